from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated, Any

import pytest

from libs.context import StepContext
from libs.errors import SystemFailure
from libs.registry import REGISTRY, step

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


def test_failure_names_the_step_and_leaves_a_screenshot(run_robot: Run, tmp_path: Path) -> None:
    result, events = run_robot("""
        robot: breaks
        steps:
          - fake.flaky: {key: x, fail_times: 9, label: 查询账户}
        """)
    assert result.status == "failed"
    assert result.error is not None
    assert result.error["message"].endswith("robot.yaml:3:5 (查询账户): flaky x call 1")
    assert Path(result.error["screenshot"]).read_bytes().startswith(b"\x89PNG")
    end = events.of_type("step.end")[0]
    assert end["outcome"] == "failed" and end["screenshot"] == result.error["screenshot"]
    assert CALLS["closed"] == 1  # resources are closed even after a failure
    saved = json.loads((tmp_path / "out" / "result.json").read_text(encoding="utf-8"))
    assert saved["status"] == "failed" and saved["artifacts"][0]["kind"] == "screenshot"


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


def test_secrets_never_reach_events_or_results(run_robot: Run, tmp_path: Path) -> None:
    result, _ = run_robot("""
        robot: secret
        credentials: [bank]
        steps:
          - log: "logging in with ${credentials.bank.password}"
          - fail: "wrong password ${credentials.bank.password}"
        """, credentials={"bank": {"username": "ops", "password": "Pa55-word!"}})
    out = tmp_path / "out"
    for name in ("events.jsonl", "result.json"):
        text = (out / name).read_text(encoding="utf-8")
        assert "Pa55-word!" not in text
        assert "***" in text
    assert result.error is not None and "***" in result.error["message"]


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
