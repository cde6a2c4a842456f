"""Browser steps that ask about the page and answer with a value: is it there, shown, enabled,
checked, how many. They never fail because nothing matches: that is an answer (false, 0).

    - browser.is_enabled: {target: {role: button, name: 提交}, into: can_submit}
    - assert: {that: "${not can_submit}", message: 未复核的单据不能提交}

They answer about the page as it is now (browser.exists can wait a while with `within`), so they
do not wait for the page the way acting steps do: put a browser.wait_for before them while the
page is still loading.
"""

from __future__ import annotations

import time
from typing import Annotated

from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import Locator
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from libs.context import StepContext
from libs.errors import StepArgumentError
from libs.registry import step
from libs.steps.browser.failures import acting, seconds
from libs.steps.browser.session import session_for, timeout_ms
from libs.steps.browser.targets import describe, locate
from libs.steps.browser.watch import probe_for, watch
from libs.types import Duration, Target

# The element was counted a moment ago; if it went away meanwhile the answer is "no", not a
# wait of the whole step timeout (Playwright's is_enabled/is_checked wait for the element).
_GONE_SOON_MS = 500.0


@step("browser.exists", main="target")
def exists(ctx: StepContext,
           target: Annotated[Target, "the element to look for"],
           within: Annotated[Duration | None, "wait up to this long for it to appear, e.g. 3s "
                                              "(default: answer at once)"] = None) -> bool:
    """Whether an element matching the target is in the page (shown or not): true or false.

    E.g. `{target: .error-message, into: has_error}`. Several matching elements answer true.
    With `within`, true as soon as one appears (even for a moment), false when the time is up.
    """
    page = session_for(ctx).page
    locator = locate(page, target)
    if within is not None and within > ctx.timeout:
        raise StepArgumentError(
            f"browser.exists: within {seconds(within)} is longer than the step's timeout of "
            f"{seconds(ctx.timeout)}; shorten within or give the step a longer timeout")
    with acting(ctx, "browser.exists", target=target, doing="look for it"):
        if not within:
            return locator.count() > 0
        in_frame = not isinstance(target, str) and target.frame is not None
        until = time.monotonic() + min(within, ctx.remaining)
        return watch(page, locator, "attached", until, in_frame=in_frame, strict=False,
                     probe=probe_for(target)).met


@step("browser.count", main="target")
def count(ctx: StepContext, target: Annotated[Target, "the elements to count"]) -> int:
    """How many elements match the target now (0 when none), e.g. the rows of a result list:
    `{target: "#result tr", into: rows}`."""
    locator = locate(session_for(ctx).page, target)
    with acting(ctx, "browser.count", target=target, doing="count the matches"):
        return locator.count()


def _one(ctx: StepContext, target: Target) -> Locator | None:
    """The target's locator when something matches now (several matches are left to
    Playwright's strictness, which explain() turns into 'write the target as ...')."""
    locator = locate(session_for(ctx).page, target)
    return locator if locator.count() > 0 else None


@step("browser.is_visible", main="target")
def is_visible(ctx: StepContext, target: Annotated[Target, "the element"]) -> bool:
    """Whether the element is shown now: false when it is hidden or not in the page."""
    with acting(ctx, "browser.is_visible", target=target, doing="see whether it is shown"):
        locator = _one(ctx, target)
        return locator is not None and locator.is_visible()


@step("browser.is_enabled", main="target")
def is_enabled(ctx: StepContext, target: Annotated[Target, "the element, e.g. a button"]
               ) -> bool:
    """Whether the element can be used now (not disabled): false when it is disabled or not in
    the page. E.g. "this must not be clickable":
    `{target: {role: button, name: 提交}, into: can_submit}` then an assert."""
    with acting(ctx, "browser.is_enabled", target=target, doing="see whether it is enabled"):
        locator = _one(ctx, target)
        if locator is None:
            return False
        try:
            return locator.is_enabled(timeout=min(timeout_ms(ctx), _GONE_SOON_MS))
        except PlaywrightTimeoutError:
            return False


@step("browser.is_checked", main="target")
def is_checked(ctx: StepContext, target: Annotated[Target, "a checkbox or radio button"]
               ) -> bool:
    """Whether the checkbox or radio button is ticked now: false when it is not, or not in the
    page."""
    with acting(ctx, "browser.is_checked", target=target, doing="see whether it is checked"):
        locator = _one(ctx, target)
        if locator is None:
            return False
        try:
            return locator.is_checked(timeout=min(timeout_ms(ctx), _GONE_SOON_MS))
        except PlaywrightTimeoutError:
            return False
        except PlaywrightError as err:
            if "Not a checkbox or radio button" not in str(err):
                raise
    raise StepArgumentError(ctx.masker.text(
        f"browser.is_checked: {describe(target)} on {session_for(ctx).url} is not a checkbox or "
        "radio button; target the box itself, e.g. {role: checkbox, name: 同意条款} or "
        "{label: 同意条款}"))
