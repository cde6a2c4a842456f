"""browser.wait_for: wait until an element, a text or an address shows up (or goes away)."""

from __future__ import annotations

from typing import Annotated, Literal

from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import Locator, Page, expect

from libs.context import StepContext
from libs.errors import StepArgumentError, SystemFailure, WorkhandError
from libs.registry import step
from libs.steps.browser.failures import acting, explain, seconds
from libs.steps.browser.session import session_for, timeout_ms
from libs.steps.browser.targets import describe, locate
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
             = None) -> None:
    """Wait until something is on the page: an element, a text, or an address.

    Examples: `{text: 查询完成}`, `{target: '.loading', state: hidden}`,
    `{url: '**/result*'}`. Waits at most the step's timeout, then fails.
    """
    if target is None and text is None and url is None:
        raise StepArgumentError("browser.wait_for needs target, text or url; e.g. "
                                "{text: 查询完成} or {target: '#result'} or {url: '**/result*'}")
    page = session_for(ctx).page
    if url is not None:
        with acting(ctx, "browser.wait_for", doing=f"reach an address matching '{url}'"):
            page.wait_for_url(url, timeout=timeout_ms(ctx))
    if text is not None:
        _wait_text(ctx, page, target, text, gone=state in _GONE)
    elif target is not None:
        _wait_state(ctx, locate(page, target), target, state)


def _wait_text(ctx: StepContext, page: Page, target: Target | None, text: str,
               gone: bool) -> None:
    where = locate(page, target) if target is not None else page.locator("body")
    # innerText, not textContent: a <script> holding the text must not count as showing it.
    try:
        if gone:
            expect(where).not_to_contain_text(text, timeout=timeout_ms(ctx), use_inner_text=True)
        else:
            expect(where).to_contain_text(text, timeout=timeout_ms(ctx), use_inner_text=True)
    except (AssertionError, PlaywrightError) as err:
        raise _text_failure(ctx, err, page, target, text, gone) from None


def _text_failure(ctx: StepContext, err: Exception, page: Page, target: Target | None,
                  text: str, gone: bool) -> WorkhandError:
    if "strict mode violation" in str(err) or not isinstance(err, AssertionError):
        return explain(ctx, "browser.wait_for", err, target=target, url=page.url,
                       doing=f"wait for the text '{text}'")
    if target is not None and not gone and "resolved to" not in str(err):
        return SystemFailure(ctx.masker.text(
            f"browser.wait_for: no element matches {describe(target)} on {page.url} after "
            f"{seconds(ctx.timeout)}; check the target (the page may show it under another name)"
        ))
    verb = "was still shown" if gone else "did not appear"
    where = "the page" if target is None else describe(target)
    return SystemFailure(ctx.masker.text(
        f"browser.wait_for: the text '{text}' {verb} in {where} on {page.url} within "
        f"{seconds(ctx.timeout)}; the system may be slow (raise the step's timeout) or show "
        "another text"))


def _wait_state(ctx: StepContext, locator: Locator, target: Target, state: State) -> None:
    try:
        locator.wait_for(state=state, timeout=timeout_ms(ctx))
    except PlaywrightError as err:
        if state not in _GONE or "strict mode violation" in str(err):
            raise explain(ctx, "browser.wait_for", err, target=target, url=locator.page.url,
                          doing=f"wait until it is {state}") from None
        still = "visible" if state == "hidden" else "in the page"
        raise SystemFailure(ctx.masker.text(
            f"browser.wait_for: {describe(target)} was still {still} on {locator.page.url} after "
            f"{seconds(ctx.timeout)}; the system may be slow (raise the step's timeout)")) from None
