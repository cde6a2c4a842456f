"""browser.wait_for: wait until an element, a text or an address shows up (or goes away).

Elements and texts are watched from inside the page (libs/steps/browser/watch.py), so a state
that lasts 100 ms is seen; Playwright's own waits sample and can miss it.
"""

from __future__ import annotations

import time
from typing import Annotated, Literal

from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import Page

from libs.context import StepContext
from libs.errors import StepArgumentError, SystemFailure, WorkhandError
from libs.registry import step
from libs.steps.browser.failures import acting, explain, no_match, seconds
from libs.steps.browser.session import session_for, timeout_ms
from libs.steps.browser.targets import describe, locate
from libs.steps.browser.watch import Condition, first_shown, probe_for, watch
from libs.types import Target

State = Literal["visible", "hidden", "attached", "detached"]
_GONE = ("hidden", "detached")


@step("browser.wait_for")
def wait_for(ctx: StepContext,
             target: Annotated[Target | None, "the element to wait for"] = None,
             state: Annotated[State, "visible (shown), hidden (not shown or gone), attached (in "
                                     "the page, shown or not), detached (gone from the page); "
                                     "with text, hidden/detached wait for the text to go away"]
             = "visible",
             text: Annotated[str | None, "wait until the target (or, without target, the page) "
                                         "shows this text"] = None,
             url: Annotated[str | None, "wait until the address matches this pattern, e.g. "
                                        "'**/result*' (** = anything, * = anything but /)"]
             = None,
             any: Annotated[list[Target] | None,
                            "wait until the first of these targets is shown, e.g. "
                            "[{text: 成功}, {text: 失败}]; answers its number (0 = the first)"]
             = None) -> int | None:
    """Wait until something is on the page: an element, a text, an address, or one of several.

    Examples: `{text: 查询完成}`, `{target: '.loading', state: hidden}`,
    `{url: '**/result*'}`, `{any: [{text: 成功}, {text: 失败}], into: which}` (which is then 0
    or 1). Waits at most the step's timeout, then fails. The page is watched from the inside,
    so even a text shown for a tenth of a second is seen.
    """
    if target is None and text is None and url is None and any is None:
        raise StepArgumentError("browser.wait_for needs target, text, url or any; e.g. "
                                "{text: 查询完成} or {target: '#result'} or {url: '**/result*'}")
    if any is not None:
        if target is not None or text is not None or url is not None or not any:
            raise StepArgumentError(
                "browser.wait_for: 'any' is a list of targets and goes alone (no target, text "
                "or url); e.g. {any: [{text: 成功}, {text: 失败}], into: which}")
        return _wait_any(ctx, session_for(ctx).page, any)
    page = session_for(ctx).page
    if url is not None:
        with acting(ctx, "browser.wait_for", doing=f"reach an address matching '{url}'"):
            page.wait_for_url(url, timeout=timeout_ms(ctx))
    if text is not None:
        _wait_text(ctx, page, target, text, gone=state in _GONE)
    elif target is not None:
        _wait_state(ctx, page, target, state)
    return None


def _until(ctx: StepContext) -> float:
    return time.monotonic() + ctx.remaining


def _in_frame(target: Target | None) -> bool:
    return target is not None and not isinstance(target, str) and target.frame is not None


def _watched(ctx: StepContext, page: Page, target: Target | None, cond: Condition,
             text: str, doing: str) -> tuple[bool, bool]:
    where = locate(page, target) if target is not None else page.locator("body")
    try:
        met, found = watch(page, where, cond, _until(ctx), text=text,
                           in_frame=_in_frame(target), probe=probe_for(target))
    except PlaywrightError as err:
        raise explain(ctx, "browser.wait_for", err, target=target, url=page.url,
                      doing=doing) from None
    return met, found


def _wait_text(ctx: StepContext, page: Page, target: Target | None, text: str,
               gone: bool) -> None:
    # innerText, not textContent: a <script> holding the text must not count as showing it.
    met, found = _watched(ctx, page, target, "no_text" if gone else "text", text,
                          f"wait for the text '{text}'")
    if not met:
        raise _text_failure(ctx, page, target, text, gone, found)


def _text_failure(ctx: StepContext, page: Page, target: Target | None, text: str, gone: bool,
                  found: bool) -> WorkhandError:
    if target is not None and not gone and not found:
        return no_match(ctx, "browser.wait_for", target, page.url)
    verb = "was still shown" if gone else "did not appear"
    where = "the page" if target is None else describe(target)
    return SystemFailure(ctx.masker.text(
        f"browser.wait_for: the text '{text}' {verb} in {where} on {page.url} within "
        f"{seconds(ctx.timeout)}; the system may be slow (raise the step's timeout) or show "
        "another text"))


def _wait_state(ctx: StepContext, page: Page, target: Target, state: State) -> None:
    met, found = _watched(ctx, page, target, state, "", f"wait until it is {state}")
    if met:
        return
    what, budget = describe(target), seconds(ctx.timeout)
    if state in _GONE:
        still = "visible" if state == "hidden" else "in the page"
        message = (f"browser.wait_for: {what} was still {still} on {page.url} after {budget}; "
                   "the system may be slow (raise the step's timeout)")
    elif found and state == "visible":
        message = (f"browser.wait_for: {what} was found on {page.url} but stayed hidden for "
                   f"{budget} while trying to wait until it is visible; the system may be slow "
                   "(raise the step's timeout), or check that the target is the right element")
    else:
        raise no_match(ctx, "browser.wait_for", target, page.url)
    raise SystemFailure(ctx.masker.text(message))


def _wait_any(ctx: StepContext, page: Page, targets: list[Target]) -> int:
    locators = [locate(page, target) for target in targets]
    for target, locator in zip(targets, locators, strict=True):  # a bad selector names itself
        with acting(ctx, "browser.wait_for", target=target, doing="look for it"):
            locator.count()
    with acting(ctx, "browser.wait_for", doing="wait for one of several targets"):
        index = first_shown(page, locators, _until(ctx),
                            in_frame=any(_in_frame(t) for t in targets))
    if index is not None:
        return index
    shown = ", ".join(f"{n}) {describe(t)}" for n, t in enumerate(targets))
    raise SystemFailure(ctx.masker.text(
        f"browser.wait_for: none of {len(targets)} targets was shown on {page.url} after "
        f"{seconds(ctx.timeout)}: {shown}; the system may be slow (raise the step's timeout), "
        "or the page shows something else (add it to the list)"))
