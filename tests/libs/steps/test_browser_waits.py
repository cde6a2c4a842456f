"""Waits that see short states, waiting for the first of several targets, and dialogs that a
page timer opens while the robot pauses; real Chromium, pages served from 127.0.0.1."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from libs.context import StepContext
from libs.errors import StepArgumentError, SystemFailure
from libs.events import Collector
from libs.run_result import RunResult
from libs.steps import builtin  # noqa: F401 - registers wait
from tests.libs.steps import test_browser as shared

# The browser tests' fixtures: one browser and one site for this module
site, base, make_ctx, run = shared.site, shared.base, shared.make_ctx, shared.run

REPEATS = 5  # a state the old sampling saw by luck must not pass: it has to be seen every time


@pytest.fixture
def step(make_ctx: Callable[..., StepContext]) -> Callable[..., Any]:
    """Run a step with a budget of its own, as the runner gives every step."""
    def call(name: str, args: dict[str, Any] | None = None, timeout: float = 10.0) -> Any:
        return run(make_ctx(timeout=timeout), name, args)
    return call


@pytest.mark.parametrize("ms", [150, 100])
def test_wait_for_sees_a_text_shown_for_a_moment(step: Callable[..., Any], site: str,
                                                  ms: int) -> None:
    step("browser.open", {"url": f"{site}/flash.html"})
    for _ in range(REPEATS):
        step("browser.click", {"target": f"#go{ms}"})
        step("browser.wait_for", {"target": "#progress", "text": "75%"})
        step("browser.click", {"target": f"#go{ms}"})
        step("browser.wait_for", {"text": "75%"})  # anywhere in the page
        # the moment has passed: the page went on to 100%
        step("browser.wait_for", {"target": "#progress", "text": "100%"})
        assert step("browser.read_text", {"target": "#progress"}) == "100%"


@pytest.mark.parametrize("ms", [150, 100])
def test_wait_for_sees_an_element_shown_or_added_for_a_moment(
        step: Callable[..., Any], site: str, ms: int) -> None:
    step("browser.open", {"url": f"{site}/flash.html"})
    for _ in range(REPEATS):
        step("browser.click", {"target": f"#go{ms}"})
        step("browser.wait_for", {"target": "#banner"})  # hidden, shown for ms, hidden
        step("browser.click", {"target": f"#go{ms}"})
        step("browser.wait_for", {"target": {"text": "已受理"}})  # added, then removed
        step("browser.wait_for", {"target": "#notes li", "state": "detached"})
        assert step("browser.count", {"target": "#notes li"}) == 0
        assert step("browser.is_visible", {"target": "#banner"}) is False


def test_an_element_the_page_can_find_is_seen_even_for_5ms(step: Callable[..., Any],
                                                           site: str) -> None:
    # css, xpath and plain texts are checked by the page itself at the change that adds them;
    # the look that follows may come too late on a loaded machine, and need not come in time
    for args in ({"target": "#notes li"}, {"target": {"text": "已受理"}},
                 {"target": "//ul/li", "state": "attached"}):
        for _ in range(3):
            step("browser.open", {"url": f"{site}/flash.html?auto=5"})
            step("browser.wait_for", args)
            step("browser.wait_for", {"text": "100%"})
            assert step("browser.count", {"target": "#notes li"}) == 0, args
    step("browser.open", {"url": f"{site}/flash.html?auto=5"})
    assert step("browser.exists", {"target": "#notes li", "within": "3s"}) is True


def test_wait_for_sees_a_moment_right_after_loading(step: Callable[..., Any],
                                                    site: str) -> None:
    for _ in range(REPEATS):
        step("browser.open", {"url": f"{site}/flash.html?auto=100"})
        step("browser.wait_for", {"target": "#progress", "text": "75%"})
        step("browser.wait_for", {"text": "100%"})


def test_exists_within_sees_an_element_that_comes_and_goes(step: Callable[..., Any],
                                                           site: str) -> None:
    step("browser.open", {"url": f"{site}/flash.html"})
    for _ in range(REPEATS):
        step("browser.click", {"target": "#go100"})
        assert step("browser.exists", {"target": {"text": "已受理"}}) is False  # not yet
        assert step("browser.exists", {"target": {"text": "已受理"}, "within": "2s"}) is True
    step("browser.wait_for", {"text": "100%"})
    started = time.monotonic()
    assert step("browser.exists", {"target": {"text": "已受理"}, "within": "300ms"}) is False
    assert 0.3 <= time.monotonic() - started < 2


def test_wait_for_any_answers_the_first_target_shown(step: Callable[..., Any],
                                                     site: str) -> None:
    step("browser.open", {"url": f"{site}/flash.html"})
    for _ in range(REPEATS):
        step("browser.click", {"target": "#go100"})
        assert step("browser.wait_for",
                   {"any": [{"text": "失败"}, {"text": "已受理"}, "#banner"]}) in (1, 2)
    step("browser.wait_for", {"text": "100%"})
    # already shown: answers at once, the first in the list that is shown
    assert step("browser.wait_for", {"any": ["#banner", {"text": "开始100"}, "button"]}) == 1


def test_wait_for_any_failures(make_ctx: Callable[..., StepContext], site: str) -> None:
    ctx = make_ctx()
    run(ctx, "browser.open", {"url": f"{site}/flash.html"})
    with pytest.raises(SystemFailure) as caught:
        run(make_ctx(timeout=0.5), "browser.wait_for",
            {"any": [{"text": "成功"}, {"text": "失败"}, "#banner"]})
    assert str(caught.value) == (
        f"browser.wait_for: none of 3 targets was shown on {site}/flash.html after 500ms: "
        "0) {text: 成功}, 1) {text: 失败}, 2) '#banner'; the system may be slow (raise the "
        "step's timeout), or the page shows something else (add it to the list)")
    with pytest.raises(StepArgumentError) as wrong:
        run(ctx, "browser.wait_for", {"any": ["#banner"], "text": "成功"})
    assert str(wrong.value) == (
        "browser.wait_for: 'any' is a list of targets and goes alone (no target, text or "
        "url); e.g. {any: [{text: 成功}, {text: 失败}], into: which}")
    with pytest.raises(StepArgumentError, match="goes alone"):
        run(ctx, "browser.wait_for", {"any": []})


def test_waits_outlive_the_page_going_to_another_address(step: Callable[..., Any],
                                                        site: str) -> None:
    for args in ({"text": "账户明细"}, {"target": "h1", "text": "账户明细"},
                 {"target": "#note", "state": "detached"}, {"target": {"text": "账户明细"}},
                 {"any": ["#nothing", "h1"]}):
        step("browser.open", {"url": f"{site}/redirect.html"})
        step("browser.wait_for", args)
        assert step("browser.read_text", {"target": "h1"}) == "账户明细", args
        assert step("browser.exists", {"target": "#note"}) is False


def test_wait_for_failures_keep_their_messages(make_ctx: Callable[..., StepContext],
                                               site: str) -> None:
    run(make_ctx(), "browser.open", {"url": f"{site}/flash.html"})
    url = f"{site}/flash.html"
    cases: list[tuple[dict[str, Any], str]] = [
        ({"target": "#missing"}, f"browser.wait_for: no element matches '#missing' on {url} "
         "after 300ms; check the target (the page may show it under another name)"),
        ({"target": "#banner"}, f"browser.wait_for: '#banner' was found on {url} but stayed "
         "hidden for 300ms while trying to wait until it is visible; the system may be slow "
         "(raise the step's timeout), or check that the target is the right element"),
        ({"target": "#progress", "state": "hidden"}, f"browser.wait_for: '#progress' was "
         f"still visible on {url} after 300ms; the system may be slow (raise the step's "
         "timeout)"),
        ({"target": "#banner", "state": "detached"}, f"browser.wait_for: '#banner' was still "
         f"in the page on {url} after 300ms; the system may be slow (raise the step's timeout)"),
        ({"target": "#missing", "text": "75%"}, f"browser.wait_for: no element matches "
         f"'#missing' on {url} after 300ms; check the target (the page may show it under "
         "another name)"),
        ({"target": "#progress", "text": "75%"}, f"browser.wait_for: the text '75%' did not "
         f"appear in '#progress' on {url} within 300ms; the system may be slow (raise the "
         "step's timeout) or show another text"),
        ({"text": "0%", "state": "hidden"}, f"browser.wait_for: the text '0%' was still shown "
         f"in the page on {url} within 300ms; the system may be slow (raise the step's "
         "timeout) or show another text"),
    ]
    for args, message in cases:
        started = time.monotonic()
        with pytest.raises(SystemFailure) as caught:
            run(make_ctx(timeout=0.3), "browser.wait_for", args)
        assert str(caught.value) == message
        assert time.monotonic() - started < 1.5, args  # the budget, not more
    for args in ({"target": "##bad"}, {"target": "##bad", "text": "x"},
                 {"target": "##bad", "state": "hidden"}, {"any": ["#banner", "##bad"]}):
        started = time.monotonic()
        with pytest.raises(StepArgumentError, match=r"^browser.wait_for: '##bad' is not a "
                                                    "valid selector"):
            run(make_ctx(timeout=5), "browser.wait_for", args)
        assert time.monotonic() - started < 1, args  # known at once: no waiting it out
    # gone already: met at once
    run(make_ctx(timeout=0.3), "browser.wait_for", {"target": "#missing", "state": "hidden"})
    run(make_ctx(timeout=0.3), "browser.wait_for", {"target": "#banner", "state": "hidden"})
    run(make_ctx(timeout=0.3), "browser.wait_for", {"target": "#missing", "text": "x",
                                                    "state": "detached"})


def test_a_dialog_opened_by_a_page_timer_is_answered_during_a_wait(
        run_robot: Callable[..., tuple[RunResult, Collector]], base: StepContext,
        site: str) -> None:
    base.resources.close()  # one Playwright per thread: the robot's run starts its own
    result, events = run_robot(f"""
        robot: timer-dialog
        settings:
          browser: {{local_only: true}}
        steps:
          - browser.open: {site}/timer-dialog.html
          - wait: 1s
          - browser.last_dialog: {{}}
            into: message
          - output: {{name: message, value: "${{message}}"}}
          - browser.read_text: "#out"
            into: shown
          - output: {{name: shown, value: "${{shown}}"}}
        """)
    assert result.status == "passed", result.error["message"] if result.error else ""
    assert result.outputs == {"message": "会话即将超时", "shown": "已确认"}
    kinds = [(e["type"], e.get("name") or e.get("message")) for e in events.events
             if e["type"] in ("step.start", "log")]
    at = kinds.index(("log", "browser alert dialog: '会话即将超时' (accepted)"))
    assert kinds[at - 1] == ("step.start", "wait")  # logged during the pause, at the wait
    assert next(e for e in events.of_type("log") if "dialog" in e["message"])["step"] == \
        f"{next(e for e in events.of_type('step.start') if e['name'] == 'wait')['step']}"


def test_a_dialog_is_answered_during_a_repeat_delay_too(
        run_robot: Callable[..., tuple[RunResult, Collector]], base: StepContext,
        site: str) -> None:
    base.resources.close()  # one Playwright per thread: the robot's run starts its own
    result, events = run_robot(f"""
        robot: timer-dialog-in-a-delay
        settings:
          browser: {{local_only: true}}
        steps:
          - browser.open: {site}/timer-dialog.html
          - repeat: {{max: 2, delay: 1s}}
            steps: [log: 再看一次]
          - browser.read_text: "#out"
            into: shown
          - output: {{name: shown, value: "${{shown}}"}}
        """)
    assert result.status == "passed", result.error["message"] if result.error else ""
    assert result.outputs == {"shown": "已确认"}
    logs = [e["message"] for e in events.of_type("log")]
    assert logs.index("browser alert dialog: '会话即将超时' (accepted)") < logs.index("再看一次", 1)


def test_a_wait_with_a_browser_open_lasts_its_time_and_can_be_cancelled(
        step: Callable[..., Any], site: str) -> None:
    step("browser.open", {"url": f"{site}/form.html"})
    started = time.monotonic()
    step("wait", {"duration": "500ms"})
    assert 0.5 <= time.monotonic() - started < 0.9
    # a cancel (the worker's SIGTERM becomes KeyboardInterrupt, as SIGINT does) stops it at once
    threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT)).start()
    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        step("wait", {"duration": "5s"})
    assert time.monotonic() - started < 1.5
    assert step("browser.read_text", {"target": "h1"}) == "开户登记"  # the browser still works
