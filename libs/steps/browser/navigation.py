"""Browser steps that move the current tab through its history: reload, back, forward.

They wait for the page the way browser.open does (wait_until) and fail the same way (timeouts,
unreachable systems); going back or forward with nowhere to go is a failure that says so,
never a silent no-op that leaves the robot on the wrong page.
"""

from __future__ import annotations

from typing import Literal

from libs.context import StepContext
from libs.errors import SystemFailure
from libs.registry import step
from libs.steps.browser.actions import WaitUntil, answered, navigating
from libs.steps.browser.session import session_for, timeout_ms


@step("browser.reload", main="wait_until")
def reload(ctx: StepContext, wait_until: WaitUntil = "load") -> None:
    """Reload the current page (as F5 does); a form's unsaved input is lost."""
    page = session_for(ctx).page
    url = page.url
    with navigating(ctx, "browser.reload", page, url, wait_until):
        response = page.reload(wait_until=wait_until, timeout=timeout_ms(ctx))
    answered(ctx, "browser.reload", url, response)


@step("browser.back", main="wait_until")
def back(ctx: StepContext, wait_until: WaitUntil = "load") -> None:
    """Go back to the previous page of the current tab (the browser's Back button).

    Fails when the tab has no earlier page, e.g. right after browser.open in a new tab.
    """
    _go(ctx, "back", wait_until)


@step("browser.forward", main="wait_until")
def forward(ctx: StepContext, wait_until: WaitUntil = "load") -> None:
    """Go forward again after browser.back (the browser's Forward button).

    Fails when the tab has no later page.
    """
    _go(ctx, "forward", wait_until)


def _go(ctx: StepContext, way: Literal["back", "forward"], wait_until: WaitUntil) -> None:
    name = f"browser.{way}"
    page = session_for(ctx).page
    before = page.url
    with navigating(ctx, name, page, before, wait_until):
        go = page.go_back if way == "back" else page.go_forward
        response = go(wait_until=wait_until, timeout=timeout_ms(ctx))
    if way == "back" and page.url == "about:blank" != before:
        # a tab's history starts at the blank page it was opened with: nothing to go back to
        with navigating(ctx, name, page, before, wait_until):
            page.go_forward(wait_until=wait_until, timeout=timeout_ms(ctx))
        response = None
    # Playwright answers None both when there is no such page and for a move within the same
    # document (#anchor, pushState); only the first leaves the address as it was.
    if response is None and page.url == before:
        earlier = "earlier" if way == "back" else "later"
        fix = ("open the page you want with browser.open" if way == "back"
               else "browser.forward only follows a browser.back")
        raise SystemFailure(ctx.masker.text(
            f"{name}: the current tab has no {earlier} page to go {way} to (it shows "
            f"{before}); {fix}"))
    answered(ctx, name, page.url, response)
