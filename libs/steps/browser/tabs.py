"""Browser steps for tabs, JS dialogs (alert/confirm/prompt) and closing the browser."""

from __future__ import annotations

from typing import Annotated

from playwright.sync_api import Page

from libs.context import StepContext
from libs.errors import StepArgumentError, SystemFailure
from libs.registry import step
from libs.steps.browser.failures import acting, seconds
from libs.steps.browser.session import DialogAction, session_for


@step("browser.switch_tab")
def switch_tab(ctx: StepContext,
               index: Annotated[int | None, "the tab's number in opening order (0 = the first; "
                                            "-1 = the newest)"] = None,
               url: Annotated[str | None, "a part of the tab's address"] = None,
               title: Annotated[str | None, "a part of the tab's title"] = None) -> None:
    """Make another tab the current one, chosen by number, address or title.

    Waits (up to the step's timeout) for a matching tab to appear, so it also catches a pop-up
    that is still opening.
    """
    if index is None and url is None and title is None:
        raise StepArgumentError("browser.switch_tab needs index, url or title; e.g. {index: 1} "
                                "or {title: 查询结果}")
    session = session_for(ctx)
    with acting(ctx, "browser.switch_tab", doing="switch tabs"):
        while True:
            pages = session.pages
            found = _find(pages, index, url, title)
            if found is not None:
                session.switch_to(found)
                found.bring_to_front()
                return
            if ctx.remaining <= 0:
                break
            # Waiting inside Playwright (not time.sleep) lets it notice tabs that open meanwhile.
            session.page.wait_for_timeout(100)
    wanted = ", ".join(f"{k} {v!r}" for k, v in (("index", index), ("url", url), ("title", title))
                       if v is not None)
    shown = "; ".join(f"{i}: {p.url}" for i, p in enumerate(pages))
    raise SystemFailure(ctx.masker.text(
        f"browser.switch_tab: no tab with {wanted} after {seconds(ctx.timeout)}; the open tabs "
        f"are {shown or 'none'}"))


def _find(pages: list[Page], index: int | None, url: str | None,
          title: str | None) -> Page | None:
    if index is not None:
        if not -len(pages) <= index < len(pages):
            return None
        pages = [pages[index]]
    for page in pages:
        if url is not None and url not in page.url:
            continue
        if title is not None and title not in page.title():
            continue
        return page
    return None


@step("browser.close_tab")
def close_tab(ctx: StepContext) -> None:
    """Close the current tab and go back to the tab used before it."""
    session = session_for(ctx)
    with acting(ctx, "browser.close_tab", doing="close the tab"):
        session.close_page()


@step("browser.dialogs")
def dialogs(ctx: StepContext,
            action: Annotated[DialogAction, "accept (OK) or dismiss (Cancel)"] = "accept",
            text: Annotated[str | None, "the answer typed into prompt() dialogs when accepting "
                                        "(default: the prompt's own suggested value)"] = None,
            ) -> None:
    """Choose how the page's pop-up dialogs (alert, confirm, prompt) are answered from now on.

    Before any browser.dialogs step, every dialog is accepted the way a person clicking OK
    would: alerts are acknowledged, confirms answered OK, prompts answered with their suggested
    value. Each dialog's kind and message is logged; browser.last_dialog returns the latest
    message.
    """
    session = session_for(ctx)
    session.dialog_action = action
    session.dialog_text = text


@step("browser.last_dialog")
def last_dialog(ctx: StepContext) -> str:
    """The message of the most recent alert/confirm/prompt dialog ("" if there was none)."""
    session = ctx.resources.peek("browser")
    return session.dialogs[-1].message if session is not None and session.dialogs else ""


@step("browser.close")
def close(ctx: StepContext) -> None:
    """Close the browser (the next browser step starts a new one, with no cookies or login)."""
    session = ctx.resources.peek("browser")
    if session is not None:
        session.close()
