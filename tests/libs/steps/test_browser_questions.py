"""Question steps (browser.exists, count, is_visible, is_enabled, is_checked) against real
Chromium: they answer with values, and false/0 when nothing matches."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from pydantic import ValidationError

from libs.context import StepContext
from libs.errors import StepArgumentError
from libs.events import Collector
from libs.registry import REGISTRY
from libs.run_result import RunResult
from tests.libs.steps import test_browser as shared

# The browser tests' fixtures: one browser and one site for this module
site, base, make_ctx, run = shared.site, shared.base, shared.make_ctx, shared.run


def test_exists_and_count_answer_without_failing(ctx: StepContext, site: str) -> None:
    run(ctx, "browser.open", {"url": f"{site}/questions.html"})
    assert run(ctx, "browser.exists", {"target": "#bills li"}) is True  # several: yes
    assert run(ctx, "browser.exists", {"target": ".error"}) is True  # hidden, but there
    assert run(ctx, "browser.exists", {"target": {"text": "已撤销"}}) is False
    assert run(ctx, "browser.count", {"target": "#bills li"}) == 3
    assert run(ctx, "browser.count", {"target": {"css": "#bills li", "nth": 1}}) == 1
    assert run(ctx, "browser.count", {"target": {"role": "button"}}) == 2
    assert run(ctx, "browser.count", {"target": ".nothing"}) == 0
    started = time.monotonic()
    assert run(ctx, "browser.exists", {"target": ".nothing", "within": "300ms"}) is False
    assert 0.3 <= time.monotonic() - started < 2
    started = time.monotonic()
    assert run(ctx, "browser.exists", {"target": ".nothing"}) is False
    assert time.monotonic() - started < 1  # no waiting without `within`


def test_questions_inside_an_iframe(ctx: StepContext, site: str) -> None:
    run(ctx, "browser.open", {"url": f"{site}/frame.html"})
    inner = {"frame": "#inner"}
    run(ctx, "browser.wait_for", {"target": {"label": "户名", **inner}})
    assert run(ctx, "browser.count", {"target": {"css": "button", **inner}}) == 3
    assert run(ctx, "browser.is_enabled", {"target": {"role": "button", "name": "审批",
                                                      **inner}}) is False
    assert run(ctx, "browser.exists", {"target": {"css": "#who", **inner},
                                       "within": "1s"}) is True


def test_is_visible_enabled_checked(ctx: StepContext, site: str) -> None:
    run(ctx, "browser.open", {"url": f"{site}/questions.html"})
    assert run(ctx, "browser.is_visible", {"target": "h1"}) is True
    assert run(ctx, "browser.is_visible", {"target": ".error"}) is False
    assert run(ctx, "browser.is_visible", {"target": ".nothing"}) is False
    submit = {"role": "button", "name": "提交"}
    assert run(ctx, "browser.is_enabled", {"target": submit}) is False
    assert run(ctx, "browser.is_enabled", {"target": {"role": "button", "name": "退回"}}) is True
    assert run(ctx, "browser.is_enabled", {"target": "#nothing"}) is False
    assert run(ctx, "browser.is_checked", {"target": {"label": "已复核"}}) is False
    assert run(ctx, "browser.is_checked", {"target": {"label": "网银"}}) is True
    assert run(ctx, "browser.is_checked", {"target": {"label": "柜面"}}) is False
    assert run(ctx, "browser.is_checked", {"target": "#nothing"}) is False
    run(ctx, "browser.check", {"target": {"label": "已复核"}})
    assert run(ctx, "browser.is_checked", {"target": {"label": "已复核"}}) is True
    assert run(ctx, "browser.is_enabled", {"target": submit}) is True


def test_questions_refuse_ambiguous_and_wrong_targets(ctx: StepContext, site: str) -> None:
    run(ctx, "browser.open", {"url": f"{site}/questions.html"})
    url = f"{site}/questions.html"
    with pytest.raises(StepArgumentError) as several:
        run(ctx, "browser.is_visible", {"target": "#bills li"})
    assert str(several.value) == (
        "browser.is_visible: '#bills li' matches 3 elements (1) <li>单据一</li>; 2) "
        f"<li>单据二</li>; 3) <li>单据三</li>) on {url}; write the target as "
        "{css: \"#bills li\", nth: 0} for the first (nth: 1 for the second), or make it more "
        "specific (e.g. {role: button, name: 登录}, or exact: true)")
    with pytest.raises(StepArgumentError, match=r"^browser.is_enabled: \{role: button\} "
                                                "matches 2 elements"):
        run(ctx, "browser.is_enabled", {"target": {"role": "button"}})
    with pytest.raises(StepArgumentError) as not_a_box:
        run(ctx, "browser.is_checked", {"target": "h1"})
    assert str(not_a_box.value) == (
        f"browser.is_checked: 'h1' on {url} is not a checkbox or radio button; target the box "
        "itself, e.g. {role: checkbox, name: 同意条款} or {label: 同意条款}")
    with pytest.raises(StepArgumentError) as too_long:
        run(ctx, "browser.exists", {"target": "h1", "within": "1m"})
    assert str(too_long.value) == (
        "browser.exists: within 60s is longer than the step's timeout of 10s; shorten within "
        "or give the step a longer timeout")
    for name in ("browser.exists", "browser.count", "browser.is_visible", "browser.is_enabled",
                 "browser.is_checked"):
        with pytest.raises(StepArgumentError, match=rf"^{name}: 'a:::b' is not a valid selector"):
            run(ctx, name, {"target": "a:::b"})
    with pytest.raises(ValidationError, match=r"this one has label, css; keep one of them"):
        run(ctx, "browser.count", {"target": {"label": "户名", "css": "#name"}})


@pytest.fixture
def ctx(make_ctx: Callable[..., StepContext]) -> StepContext:
    return make_ctx()


def test_a_robot_checks_that_a_button_must_not_be_clickable(
        run_robot: Callable[..., tuple[RunResult, Collector]], base: StepContext,
        site: str) -> None:
    base.resources.close()  # one Playwright per thread: the robot's run starts its own
    result, _ = run_robot(f"""
        robot: review-before-submit
        settings:
          browser: {{local_only: true}}
        steps:
          - browser.open: {site}/questions.html
          - browser.is_enabled: {{target: {{role: button, name: 提交}}}}
            into: early
          - assert: {{that: "${{not early}}", message: 未复核的单据不能提交}}
          - browser.check: {{target: {{label: 已复核}}}}
          - browser.is_enabled: {{target: {{role: button, name: 提交}}}}
            into: later
          - browser.count: "#bills li"
            into: bills
          - browser.exists: {{target: .error, within: 200ms}}
            into: has_error
          - output: {{name: answers, value: {{early: "${{early}}", later: "${{later}}",
                      bills: "${{bills}}", error: "${{has_error}}"}}}}
          - browser.is_checked: {{target: {{label: 已复核}}}}
            into: reviewed
          - assert: {{that: "${{reviewed}}", message: 复核框应已勾选}}
        """)
    assert result.status == "passed", result.error["message"] if result.error else ""
    assert result.outputs == {"answers": {"early": False, "later": True, "bills": 3,
                                          "error": True}}


def test_question_steps_are_documented_and_answer() -> None:
    for name in ("browser.exists", "browser.count", "browser.is_visible", "browser.is_enabled",
                 "browser.is_checked"):
        spec = REGISTRY[name]
        assert spec.returns and spec.main == "target" and spec.summary, name
    assert list(REGISTRY["browser.exists"].params) == ["target", "within"]
