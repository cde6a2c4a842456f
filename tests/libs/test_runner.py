from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated, Any

import pytest

from libs.checker import _RobotChecker, check_file
from libs.context import StepContext
from libs.errors import StepArgumentError, SystemFailure
from libs.registry import REGISTRY, step
from libs.runner import Runner
from libs.secrets import reveal
from libs.types import SecretText

Run = Callable[..., Any]
CALLS: dict[str, int] = {}


class FakePage:
    """A fake driver resource: records that a failure screenshot was asked for."""

    def capture(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"\x89PNG fake")
        return path

    def close(self) -> None:
        CALLS["closed"] = CALLS.get("closed", 0) + 1


@pytest.fixture(autouse=True)
def fake_steps() -> Iterator[None]:
    CALLS.clear()

    @step("fake.flaky", main="key")
    def flaky(ctx: StepContext, key: Annotated[str, "counter"],
              fail_times: Annotated[int, "fail this often first"] = 0) -> int:
        """Fails `fail_times` times per key, then returns the number of calls."""
        ctx.resources.get("page", FakePage)
        CALLS[key] = CALLS.get(key, 0) + 1
        if CALLS[key] <= fail_times:
            raise SystemFailure(f"flaky {key} call {CALLS[key]}")
        return CALLS[key]

    @step("fake.timeout")
    def timeout(ctx: StepContext) -> float:
        """Returns the step's time budget."""
        return ctx.timeout

    yield
    REGISTRY.pop("fake.flaky")
    REGISTRY.pop("fake.timeout")


def test_work_items_are_counted_apart_and_system_errors_retried(run_robot: Run) -> None:
    result, events = run_robot("""
        robot: items
        savings: {minutes_per_item: 10, review_minutes: 3}
        steps:
          - for_each: ["a", "b", "c", "d"]
            as: code
            work_item: "ACC-${code}"
            retry: {attempts: 3}
            steps:
              - if: "${code == 'b'}"
                then: [fail_item: "企业状态为 注销"]
              - if: "${code == 'c'}"
                then: [fake.flaky: {key: c, fail_times: 2}]
              - if: "${code == 'd'}"
                then: [fake.flaky: {key: d, fail_times: 5}]
        """)
    assert result.counts == {"total": 4, "done": 2, "business_exceptions": 1, "system_errors": 1}
    outcomes = {i.id: (i.outcome, i.attempts, i.message) for i in result.work_items}
    assert outcomes["ACC-b"] == ("business_exception", 1, "企业状态为 注销")
    assert outcomes["ACC-c"] == ("done", 3, "")
    assert outcomes["ACC-d"] == ("system_error", 3, "flaky d call 3")
    assert CALLS["d"] == 3
    assert result.status == "failed"  # an item with a system error fails the run
    assert result.minutes_saved == 2 * 10 - 1 * 3
    assert len(events.of_type("item.end")) == 4


def test_a_retry_of_failed_items_skips_the_items_done_before(run_robot: Run,
                                                              tmp_path: Path) -> None:
    """skip_items (a retry of the failed items): the skipped items' steps never run, they are
    listed as skipped, and neither counted done nor saving minutes again."""
    result, events = run_robot("""
        robot: items
        savings: {minutes_per_item: 10}
        steps:
          - for_each: ["a", "b", "c", "d"]
            as: code
            work_item: "ACC-${code}"
            steps:
              - fake.flaky: "${code}"
        """, skip_items=frozenset({"ACC-a", "ACC-c", "ACC-zz"}))
    assert sorted(k for k in CALLS if k != "closed") == ["b", "d"]  # only these steps ran
    assert result.status == "passed"
    assert result.counts == {"total": 4, "done": 2, "business_exceptions": 0,
                             "system_errors": 0, "skipped": 2}
    assert result.minutes_saved == 20
    saved = json.loads((tmp_path / "out" / "result.json").read_text(encoding="utf-8"))
    assert saved["items"]["skipped"] == 2 and saved["items"]["done"] == 2
    assert [(w["id"], w["outcome"]) for w in saved["work_items"]] == [
        ("ACC-a", "skipped"), ("ACC-b", "done"), ("ACC-c", "skipped"), ("ACC-d", "done")]
    skipped = [w for w in saved["work_items"] if w["outcome"] == "skipped"]
    assert all(w["message"] == "done in an earlier run; skipped by a retry of failed items"
               and w["attempts"] == 0 for w in skipped)
    assert [e["item"] for e in events.of_type("item.skipped")] == ["ACC-a", "ACC-c"]
    assert [e["item"] for e in events.of_type("item.start")] == ["ACC-b", "ACC-d"]


def test_without_skips_the_counts_keep_their_shape(run_robot: Run) -> None:
    result, _ = run_robot("""
        robot: items
        steps:
          - for_each: ["a"]
            as: code
            work_item: "${code}"
            steps: [log: "${code}"]
        """)
    assert result.counts == {"total": 1, "done": 1, "business_exceptions": 0,
                             "system_errors": 0}


def test_failure_names_the_step_and_leaves_a_screenshot(run_robot: Run, tmp_path: Path) -> None:
    result, events = run_robot("""
        robot: breaks
        steps:
          - fake.flaky: {key: x, fail_times: 9, label: 查询账户}
        """)
    assert result.status == "failed"
    assert result.error is not None
    assert result.error["message"].endswith("robot.yaml:3:5 (查询账户): flaky x call 1")
    end = events.of_type("step.end")[0]
    assert end["outcome"] == "failed" and end["screenshot"].startswith("screenshots/")
    # named as the run's artifacts are, in the event, the error and result.json alike
    assert (tmp_path / "out" / end["screenshot"]).read_bytes().startswith(b"\x89PNG")
    assert result.error["screenshot"] == end["screenshot"]
    assert events.of_type("run.end")[0]["error"]["screenshot"] == end["screenshot"]
    assert CALLS["closed"] == 1  # resources are closed even after a failure
    saved = json.loads((tmp_path / "out" / "result.json").read_text(encoding="utf-8"))
    assert saved["status"] == "failed" and saved["artifacts"][0]["kind"] == "screenshot"
    assert saved["error"]["screenshot"] == end["screenshot"]


def test_into_optional_timeout_and_step_retry(run_robot: Run) -> None:
    result, events = run_robot("""
        robot: options
        settings: {timeout: 12s}
        steps:
          - fake.timeout: {into: default_budget}
          - fake.timeout: {into: own_budget, timeout: 500ms}
          - fake.flaky: {key: o, fail_times: 9}
            optional: true
          - fake.flaky: {key: r, fail_times: 1, into: calls}
            retry: {attempts: 2}
          - assert: {that: "${default_budget == 12 and own_budget == 0.5 and calls == 2}"}
        """)
    assert result.status == "passed", result.error
    assert any("optional step failed" in e["message"] for e in events.of_type("log"))


def test_try_catch_finally_and_repeat(run_robot: Run) -> None:
    result, _events = run_robot("""
        robot: flow
        steps:
          - set: {n: 0, seen: ""}
          - try:
              - fail: 系统繁忙
            catch:
              - set: {seen: "${error.kind}: ${error.message}"}
            finally:
              - set: {n: 1}
          - repeat: {max: 5, until: "${n >= 3}"}
            steps:
              - set: {n: "${n + 1}"}
          - assert: {that: "${seen == 'system: 系统繁忙' and n == 3}", message: "got ${seen} ${n}"}
        """)
    assert result.status == "passed", result.error


PASSWORD = "ops01-Secret-99"
BANK = {"bank": {"username": "ops01", "password": PASSWORD}}
SECRET_REFUSED = "the secret 'credentials.bank.password' can only be passed whole"


@pytest.fixture
def unchecked(monkeypatch: pytest.MonkeyPatch) -> None:
    """The checker's secret rule switched off: what the run does on its own, always."""
    monkeypatch.setattr(_RobotChecker, "check_secrets", lambda *args: None)


def _outputs(tmp_path: Path) -> str:
    out = tmp_path / "out"
    return "".join(p.read_text(encoding="utf-8") for p in out.rglob("*") if p.is_file())


@pytest.mark.parametrize("misuse", [
    '- log: "${credentials.bank.password | upper}"',
    '- log: "${credentials.bank.password[::-1]}"',
    '- log: "${credentials.bank.password | urlencode}"',
    '- log: "pw=${credentials.bank.password}"',
    '- log: "${credentials.bank.password}"',
    '- log: "${credentials.bank}"',
    '- fail: "wrong password ${credentials.bank.password}"',
    '- files.write_text: {path: "${credentials.bank.password}.txt", text: x}',
    '- files.write_text: {path: a.txt, text: "${credentials.bank.password}"}',
    '- {log: hello, label: "login as ${credentials.bank.password}"}',
    '- if: "${credentials.bank.password}"\n    then: [log: x]',
    '- for_each: [1]\n    work_item: "${credentials.bank.password}"\n    steps: [log: x]',
    '- set: {pw: "${credentials.bank.password}"}\n  - log: "${pw}"',
])
def test_any_use_of_a_secret_but_passing_it_whole_is_refused_at_run_time(
        run_robot: Run, tmp_path: Path, unchecked: None, misuse: str) -> None:
    result, _ = run_robot(f"""
robot: misuse
credentials: [bank]
steps:
  {misuse}
""", credentials=BANK)
    assert result.status == "failed", result.to_json()
    message = json.dumps(result.to_json(), ensure_ascii=False)
    assert SECRET_REFUSED in message and "robot.yaml:" in message, message
    assert PASSWORD not in _outputs(tmp_path) and PASSWORD.upper() not in _outputs(tmp_path)


def test_a_secret_passed_whole_reaches_the_step_and_plain_fields_stay_readable(
        run_robot: Run, tmp_path: Path) -> None:
    seen: list[str] = []

    @step("fake.sign_in")
    def sign_in(ctx: StepContext, user: Annotated[str, "user"],
                password: Annotated[SecretText, "password"]) -> None:
        """Records the revealed password."""
        seen.append(reveal(password, "bank.example"))

    try:
        result, _ = run_robot("""
            robot: whole
            credentials: [bank]
            steps:
              - set: {pw: "${credentials.bank.password}"}
              - fake.sign_in: {user: "${credentials.bank.username}", password: "${pw}"}
              - for_each: ["${credentials.bank.username | upper}"]
                as: account
                work_item: "${account}"
                steps: [log: "checked ${account}"]
            """, credentials=BANK)
    finally:
        REGISTRY.pop("fake.sign_in")
    assert result.status == "passed", result.error
    assert seen == [PASSWORD]
    assert [i.id for i in result.work_items] == ["OPS01"]  # the user name is not a secret
    assert PASSWORD not in _outputs(tmp_path)


def test_only_declared_credentials_reach_the_run(robot_file: Callable[..., Path],
                                                 tmp_path: Path) -> None:
    plan = check_file(robot_file("robot: one\ncredentials: [bank]\nsteps: [log: x]\n"))
    runner = Runner(plan, output_dir=tmp_path / "out",
                    credentials={**BANK, "vault_admin": {"password": "Other-Secret-77"}})
    assert set(runner.credentials) == {"bank"}


def _echo_step() -> None:
    @step("fake.page_echo", main="text")
    def page_echo(ctx: StepContext, text: Annotated[SecretText, "what the page echoes"]) -> str:
        """A page that shows what was typed (a login error page quoting the password)."""
        ctx.log(f"page says: wrong password {reveal(text, 'bank.example')}")
        return f"wrong password {reveal(text, 'bank.example')}"


def test_a_log_line_masks_the_longest_secret_first(run_robot: Run, tmp_path: Path) -> None:
    """A PIN that is the start of the password must not leave '***-Secret-99' behind."""
    _echo_step()
    try:
        result, events = run_robot("""
            robot: echo
            credentials: [bank, pin]
            steps:
              - fake.page_echo: "${credentials.bank.password}"
            """, credentials={**BANK, "pin": {"code": "ops01"}})
    finally:
        REGISTRY.pop("fake.page_echo")
    assert result.status == "passed", result.error
    logged = [e["message"] for e in events.of_type("log")]
    assert "page says: wrong password ***" in logged, logged
    assert "Secret-99" not in _outputs(tmp_path)


def test_the_final_masking_pass_catches_a_label_holding_page_text(run_robot: Run,
                                                                   tmp_path: Path) -> None:
    """A failing step labelled with text a page echoed (holding the password): the label is
    kept in result.json's error as it was rendered, so only Runner.finish's pass masks it."""
    _echo_step()
    try:
        result, _ = run_robot("""
            robot: label
            credentials: [bank]
            steps:
              - fake.page_echo: {text: "${credentials.bank.password}", into: page}
              - {fail: the bank refused, label: "login as ${page}"}
            """, credentials=BANK)
    finally:
        REGISTRY.pop("fake.page_echo")
    assert result.status == "failed"
    data = (tmp_path / "out" / "result.json").read_text(encoding="utf-8")
    assert PASSWORD not in data and "login as wrong password ***" in data


def test_loops_waits_and_the_run_have_limits(run_robot: Run, unchecked: None,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("libs.loops.MAX_LOOP_ITEMS", 3)
    monkeypatch.setattr("libs.loops.MAX_REPEAT", 4)
    result, _ = run_robot("""
        robot: loops
        steps:
          - for_each: "${[1, 2, 3, 4]}"
            steps: [log: x]
        """)
    assert result.error is not None and "over the limit of 3" in result.error["message"]
    result, _ = run_robot("""
        robot: loops
        steps:
          - set: {n: 0}
          - repeat: {until: "${n < 0}"}
            steps: [set: {n: "${n + 1}"}]
        """)
    assert result.error is not None and "gave up after 4 rounds" in result.error["message"]
    result, _ = run_robot("robot: w\nsteps:\n  - wait: \"${'100000h'}\"\n")
    assert result.error is not None and "longer than the limit of 3600s" in result.error["message"]
    result, _ = run_robot("robot: t\nsteps:\n  - log: a\n  - log: b\n", time_limit=0.0)
    assert result.error is not None and "past its time limit" in result.error["message"]


def test_a_secret_in_a_setting_other_than_the_mail_password_is_refused(
        run_robot: Run, unchecked: None) -> None:
    result, _ = run_robot("""
        robot: settings
        credentials: [bank]
        settings:
          mail: {password: "${credentials.bank.password}"}
          browser: {locale: "${credentials.bank.password}"}
        steps: [log: x]
        """, credentials=BANK)
    assert result.error is not None
    assert "setting 'browser.locale'" in result.error["message"]
    assert SECRET_REFUSED in result.error["message"]


def test_inputs_are_typed_and_missing_credentials_stop_before_running(run_robot: Run) -> None:
    result, events = run_robot("""
        robot: typed
        credentials: [bank]
        inputs:
          limit: {type: integer, default: 5}
        steps:
          - fake.flaky: side-effect
        """, inputs={"limit": "many"})
    assert result.status == "failed" and result.error is not None
    assert "input 'limit': 'many' is not a number" in result.error["message"]
    assert "credential 'bank' is not available" in result.error["message"]
    assert "side-effect" not in CALLS
    assert not events.of_type("step.start")


def test_called_robots_share_the_run(run_robot: Run, robot_file: Callable[..., Path]) -> None:
    robot_file("""
        robot: child
        inputs:
          code: {type: text}
        steps:
          - for_each: ["${inputs.code}-1", "${inputs.code}-2"]
            as: ref
            work_item: "${ref}"
            steps: [log: "${ref}"]
        """, "child.yaml")
    result, _ = run_robot("""
        robot: parent
        steps:
          - call: child
            with: {code: X}
        """)
    assert result.status == "passed"
    assert [i.id for i in result.work_items] == ["X-1", "X-2"]


def test_outputs_are_the_robots_answer_in_result_json(run_robot: Run, tmp_path: Path) -> None:
    result, _ = run_robot("""
robot: answers
steps:
  - set: {rows: [3, 4]}
  - output: {name: total, value: "${sum(rows)}"}
  - output: {name: 合计, value: {accounts: "${rows}", day: "${date('2026-12-01')}"}}
  - output: {name: total, value: "${sum(rows) * 2}"}
""")
    assert result.status == "passed", result.to_json()
    written = json.loads((tmp_path / "out" / "result.json").read_text(encoding="utf-8"))
    assert written["outputs"] == {"total": 14, "合计": {"accounts": [3, 4], "day": "2026-12-01"}}


@pytest.mark.parametrize(("step", "message"), [
    ('- output: {name: "1st", value: x}', "output name '1st' must start with a letter"),
    ('- output: {name: pw, value: "${credentials.bank.password}"}',
     SECRET_REFUSED),  # by the arguments' renderer, before the step's own refusal
    ("- output: {name: big, value: \"${'x' * 70000}\"}", "over the limit of 65,536"),
])
def test_outputs_refused(run_robot: Run, tmp_path: Path, unchecked: None, step: str,
                         message: str) -> None:
    """(A credential's value is refused by workhand check already; here, at run time.)"""
    result, _ = run_robot(f"""
robot: answers
credentials: [bank]
steps:
  {step}
""", credentials=BANK)
    assert result.status == "failed" and message in str(result.error), result.error
    assert PASSWORD not in _outputs(tmp_path)


def test_optional_covers_every_failure_of_the_step_but_a_refusal(
        run_robot: Run, tmp_path: Path, unchecked: None) -> None:
    """An argument only found wrong at run time (StepArgumentError) is a warning like any other
    failure; a refused use of a secret, a path or a host still stops the run."""

    @step("fake.pick")
    def pick(ctx: StepContext, how: Annotated[str, "what goes wrong"]) -> None:
        """Fails as a page with two matching elements, or as a refused path does."""
        if how == "ambiguous":
            raise StepArgumentError("fake.pick: {text: 登录} matches 2 elements; add nth")
        ctx.reach.readable(Path("/etc/passwd"), "fake.pick")

    try:
        result, events = run_robot("""
            robot: options
            credentials: [bank]
            steps:
              - fake.pick: {how: ambiguous, optional: true}
              - set: {row: {户名: 张三}}
              - fake.flaky: {key: "${row.账号}", optional: true}
              - log: still going
              - {log: "${credentials.bank.password | upper}", optional: true}
            """, credentials=BANK, inputs={})
        refused, _ = run_robot("""
            robot: options
            steps:
              - fake.pick: {how: path, optional: true}
              - log: never
            """)
    finally:
        REGISTRY.pop("fake.pick")
    warnings = [e["message"].replace(f"{tmp_path}/", "") for e in events.of_type("log")
                if e["level"] == "warning"]
    assert warnings == [
        "optional step failed, continuing: robot.yaml:4:5: fake.pick: {text: 登录} matches 2 "
        "elements; add nth",
        "optional step failed, continuing: robot.yaml:6:5: in '${row.账号}': there is no field "
        "'账号' (check its spelling, or the column names of the data)",
    ]
    assert [e["message"] for e in events.of_type("log") if e["level"] == "info"] == [
        "still going"]
    assert result.status == "failed" and result.error is not None  # the secret: refused
    assert SECRET_REFUSED in result.error["message"]
    assert refused.status == "failed" and refused.error is not None
    assert "fake.pick" in refused.error["message"] and "/etc/passwd" in refused.error["message"]
    assert not [e for e in events.of_type("log") if e["message"] == "never"]
