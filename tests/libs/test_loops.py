"""Loops and waits as the runner runs them (libs/loops.py): wait_until, repeat's give-up, the
loop variables and their restoring after an inner loop."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated, Any

import pytest

from libs.checker import _RobotChecker
from libs.checks import expression_use
from libs.context import StepContext
from libs.errors import SystemFailure
from libs.queues import QueueItem
from libs.registry import REGISTRY, step
from libs.secrets import reveal
from libs.types import SecretText
from tests.servers import static_site

Run = Callable[..., Any]
PAGES = Path(__file__).parent / "steps" / "pages"
PASSWORD = "ops01-Secret-99"
BANK = {"bank": {"username": "ops01", "password": PASSWORD}}


def local(message: str, folder: Path) -> str:
    """A message as a robot in the working folder shows it: robot.yaml:LINE:COL: ..."""
    return message.replace(f"{folder}/", "")


@pytest.fixture(scope="module")
def site() -> Iterator[str]:
    with static_site(PAGES) as url:
        yield url


@pytest.fixture
def loop_names(monkeypatch: pytest.MonkeyPatch) -> None:
    """The checker told of the names the runner sets inside loops. (The checker learns them,
    scoped to their loops, on the expr branch; these tests are of the runner.)"""
    monkeypatch.setattr(expression_use, "BUILTIN_NAMES",
                        expression_use.BUILTIN_NAMES | {"loop", "repeat_index"})


@pytest.fixture
def unchecked(monkeypatch: pytest.MonkeyPatch) -> None:
    """The checker's secret rule switched off: what the run does on its own, always."""
    monkeypatch.setattr(_RobotChecker, "check_secrets", lambda *args: None)


@pytest.fixture
def fake_steps() -> Iterator[dict[str, int]]:
    calls: dict[str, int] = {}

    @step("fake.count", main="key")
    def count(ctx: StepContext, key: Annotated[str, "counter"],
              fail_after: Annotated[int, "fail once called this often"] = 0) -> int:
        """Counts its calls per key; fails from call `fail_after` on (0: never)."""
        calls[key] = calls.get(key, 0) + 1
        if fail_after and calls[key] >= fail_after:
            raise SystemFailure(f"the system {key} went away (call {calls[key]})")
        return calls[key]

    @step("fake.echo", main="text")
    def echo(ctx: StepContext, text: Annotated[SecretText, "what the page echoes"]) -> str:
        """A page quoting what was typed (a login error page quoting the password)."""
        return f"wrong password {reveal(text, 'bank.example')}"

    yield calls
    REGISTRY.pop("fake.count")
    REGISTRY.pop("fake.echo")


def test_wait_until_rereads_the_page_until_its_status_changes(run_robot: Run, site: str,
                                                             tmp_path: Path) -> None:
    """Real Chromium: the page says 处理中 until 刷新 is clicked the third time; the second page
    never says 完成, so that wait gives up naming the value it last read, with a screenshot of
    the page. The ambiguous optional click (2 buttons 确认) is a warning, and the robot goes on."""
    result, events = run_robot(f"""
robot: wait-page
settings: {{browser: {{local_only: true}}}}
steps:
  - browser.open: "{site}/progress.html?after=3"
  - wait_until: "${{status == '完成'}}"
    read:
      - browser.click: "#refresh"
      - browser.read_text: {{target: '#status', into: status}}
    timeout: 20s
    every: 50ms
  - output: {{name: seen, value: "${{status}}"}}
  - browser.click: {{target: {{text: 确认}}, optional: true}}
  - browser.open: "{site}/progress.html?after=1000000"
  - wait_until: "${{status == '完成'}}"
    read: [browser.read_text: {{target: '#status', into: status}}]
    timeout: 1s
""")
    assert result.status == "failed"
    assert result.outputs == {"seen": "完成"}
    assert result.error is not None
    assert local(result.error["message"], tmp_path) == (
        "robot.yaml:14:5: wait_until gave up after 1s: ${status == '完成'} stayed false "
        "(status = '处理中'); raise 'timeout' or check the condition")
    warnings = [e["message"] for e in events.of_type("log") if e["level"] == "warning"]
    assert len(warnings) == 1 and local(warnings[0], tmp_path).startswith(
        "optional step failed, continuing: robot.yaml:12:5: browser.click: {text: 确认} "
        "matches 2 elements"), warnings
    met, gave_up = events.of_type("wait.end")
    assert met["met"] is True and met["checks"] == 3 and met["condition"] == "${status == '完成'}"
    clicks = [e for e in events.of_type("step.end") if e["step"].endswith("robot.yaml:7:9")]
    assert len(clicks) == 3  # the read steps ran before each check
    assert gave_up["met"] is False and gave_up["waited_s"] >= 1.0 and gave_up["checks"] >= 1
    shot = result.error["screenshot"]  # the page as it was when the wait gave up
    assert gave_up["screenshot"] == shot
    assert (tmp_path / "out" / shot).read_bytes().startswith(b"\x89PNG")


def test_wait_until_checks_every_interval_and_fails_with_a_read_steps_error(
        run_robot: Run, fake_steps: dict[str, int], tmp_path: Path) -> None:
    result, events = run_robot("""
        robot: waits
        steps:
          - wait_until: "${n >= 3}"
            read: [fake.count: {key: a, into: n}]
            every: 50ms
          - wait_until: "${n >= 99}"
            read: [fake.count: {key: b, fail_after: 2, into: n}]
        """)
    assert fake_steps == {"a": 3, "b": 2}
    assert result.error is not None
    assert local(result.error["message"], tmp_path) == (
        "robot.yaml:7:12: the system b went away (call 2)")
    first, second = events.of_type("wait.end")
    assert (first["met"], first["checks"]) == (True, 3)
    assert first["waited_s"] >= 0.1  # two pauses of 50ms between three checks
    assert (second["met"], second["checks"]) == (False, 1)  # the read failed before check 2


def test_wait_until_gives_up_by_the_robots_timeout_and_obeys_optional_and_retry(
        run_robot: Run, fake_steps: dict[str, int], tmp_path: Path) -> None:
    result, events = run_robot("""
        robot: waits
        settings: {timeout: 200ms}
        steps:
          - wait_until: "${n > 100 and done}"
            read: [fake.count: {key: a, into: n}]
            every: 50ms
            optional: true
            retry: {attempts: 2}
          - set: {done: true}
        """)
    assert result.status == "passed", result.error
    ended = events.of_type("wait.end")
    assert [e["met"] for e in ended] == [False, False]  # tried twice, then a warning
    assert all(0.2 <= e["waited_s"] < 5 for e in ended), ended
    [warning] = [e["message"] for e in events.of_type("log")]
    assert local(warning, tmp_path) == (
        f"optional step failed, continuing: robot.yaml:4:5: wait_until gave up after 0.2s: "
        f"${{n > 100 and done}} stayed false (n = {fake_steps['a']}, done = (not set)); raise "
        "'timeout' or check the condition")


def test_a_give_up_message_never_shows_a_secret(run_robot: Run, fake_steps: dict[str, int],
                                                unchecked: None, tmp_path: Path) -> None:
    """A variable holding a credential shows as ***; page text quoting the password is masked."""
    result, _ = run_robot("""
        robot: waits
        credentials: [bank]
        steps:
          - set: {bank: "${credentials.bank}"}
          - fake.echo: {text: "${credentials.bank.password}", into: page}
          - wait_until: "${page == 'welcome' and bank}"
            timeout: 100ms
        """, credentials=BANK)
    assert result.error is not None
    assert local(result.error["message"], tmp_path) == (
        "robot.yaml:6:5: wait_until gave up after 0.1s: ${page == 'welcome' and bank} stayed "
        "false (page = 'wrong password ***', bank = ***); raise 'timeout' or check the "
        "condition")
    written = "".join(p.read_text(encoding="utf-8") for p in (tmp_path / "out").rglob("*.json*"))
    assert PASSWORD not in written


def test_repeat_gives_up_naming_the_condition_and_its_values(run_robot: Run,
                                                             tmp_path: Path) -> None:
    result, _ = run_robot("""
        robot: rounds
        steps:
          - set: {n: 0, row: {状态: 处理中, 金额: 5}}
          - repeat: {max: 3, until: "${n >= 10 and row.状态 == '完成'}"}
            steps: [set: {n: "${n + 1}"}]
        """)
    assert result.error is not None
    assert local(result.error["message"], tmp_path) == (
        "robot.yaml:4:5: repeat gave up after 3 rounds: ${n >= 10 and row.状态 == '完成'} never "
        "became true (n = 3, row.状态 = '处理中'); raise 'max' or check the condition")


def test_loop_variables_and_their_restoring_after_inner_loops(run_robot: Run,
                                                            loop_names: None) -> None:
    result, _ = run_robot("""
robot: nested
steps:
  - set: {seen: []}
  - for_each: [a, b]
    as: outer
    steps:
      - for_each: [x, y, z]
        steps:
          - set: {seen: "${seen + [outer ~ loop.number ~ '/' ~ loop.length
                                   ~ loop.first ~ loop.last ~ item]}"}
      - repeat: 2
        steps:
          - repeat: 2
            steps: [set: {seen: "${seen + ['r' ~ repeat_index]}"}]
          - set: {seen: "${seen + ['R' ~ repeat_index]}"}
      - try:
          - for_each: [p, q]
            steps: [fail: "inner ${loop.index}"]
        catch:
          - set: {seen: "${seen + [error.message ~ ' in ' ~ loop.index ~ item]}"}
      - set: {seen: "${seen + ['after ' ~ loop.index ~ loop.last ~ item]}"}
  - output: {name: seen, value: "${seen}"}
  - output: {name: outside, value: "${item}"}
""")
    assert result.status == "passed", result.error
    rounds = ["r0", "r1", "R0", "r0", "r1", "R1"]
    assert result.outputs["seen"] == [
        "a1/3TrueFalsex", "a2/3FalseFalsey", "a3/3FalseTruez", *rounds,
        "inner 0 in 0a", "after 0Falsea",
        "b1/3TrueFalsex", "b2/3FalseFalsey", "b3/3FalseTruez", *rounds,
        "inner 0 in 1b", "after 1Trueb",
    ]
    assert result.outputs["outside"] is None  # outside every loop, as before the first


class Inbox:
    """A work queue of two letters: how many is not known ahead."""

    def __init__(self) -> None:
        self.items = [QueueItem("L-1", "one", handle=1), QueueItem("L-2", "two", handle=2)]

    def lease(self, queue: str) -> QueueItem | None:
        return self.items.pop(0) if self.items else None

    def report(self, queue: str, item: QueueItem, outcome: str, message: str) -> None:
        pass


def test_a_queue_loop_knows_its_index_but_not_its_length(run_robot: Run,
                                                         loop_names: None) -> None:
    result, _ = run_robot("""
        robot: letters
        steps:
          - set: {seen: []}
          - for_each: {queue: inbox}
            as: letter
            steps:
              - set: {seen: "${seen + [[loop.index, loop.number, loop.first,
                                         loop.last, loop.length, letter]]}"}
          - output: {name: seen, value: "${seen}"}
        """, queues=Inbox())
    assert result.status == "passed", result.error
    assert result.outputs["seen"] == [[0, 1, True, None, None, "one"],
                                      [1, 2, False, None, None, "two"]]
