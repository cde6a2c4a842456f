"""Browser steps that act on a page: open, click, drag, fill, type, select, check, press, hover."""

from __future__ import annotations

import contextlib
import datetime as dt
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import Locator, Page, Response
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError
from pydantic import BeforeValidator, WithJsonSchema

from libs.context import StepContext
from libs.errors import StepArgumentError, SystemFailure
from libs.registry import step
from libs.secrets import Secret, reveal
from libs.steps.browser.failures import acting, current_url, explain, first_line, seconds
from libs.steps.browser.session import session_for, timeout_ms
from libs.steps.browser.targets import describe, locate
from libs.types import Duration, SecretText, Target, WebAddress


def _as_text(value: Any) -> Any:
    # Account numbers, amounts and dates often arrive as numbers or dates from Excel or YAML.
    if isinstance(value, int | float | dt.date) and not isinstance(value, bool):
        return value.isoformat() if isinstance(value, dt.date) else str(value)
    return value


Text = Annotated[str, BeforeValidator(_as_text),
                 WithJsonSchema({"type": ["string", "number"]})]

MODIFIERS = ("Control", "Shift", "Alt", "Meta")
DRAG_MOVES = 8
ModifierName = Literal["Control", "Shift", "Alt", "Meta"]


def _modifiers(value: Any) -> Any:
    # Written the way people say them: ctrl, CONTROL and shift work, and one key alone as text.
    names = [value] if isinstance(value, str) else value
    if not isinstance(names, list):
        return value
    found: list[Any] = []
    for name in names:
        wanted = name.strip().lower() if isinstance(name, str) else name
        wanted = "control" if wanted == "ctrl" else wanted
        known = next((m for m in MODIFIERS if m.lower() == wanted), None)
        if known is None:
            raise ValueError(f"'{name}' is not a modifier key; use Control, Shift, Alt or Meta "
                             "(e.g. modifiers: [Control])")
        found.append(known)
    return list(dict.fromkeys(found))


Modifiers = Annotated[list[ModifierName], BeforeValidator(_modifiers)]

_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")
_NET_ERRORS = {
    "ERR_CONNECTION_REFUSED": "nothing answers at this address (connection refused)",
    "ERR_NAME_NOT_RESOLVED": "the host name is unknown (check the address, the DNS, or "
                             "settings.browser.local_only)",
    "ERR_CONNECTION_TIMED_OUT": "the server did not answer (connection timed out)",
    "ERR_ADDRESS_UNREACHABLE": "the server cannot be reached from this machine",
    "ERR_CERT_": "the site's certificate is not trusted (for an intranet site with its own "
                 "certificate set settings.browser.ignore_https_errors: true)",
    "ERR_INTERNET_DISCONNECTED": "this machine has no network",
    "ERR_BLOCKED_BY_CLIENT": "the address is blocked (by the worker's hosts, "
                             "settings.browser.local_only or settings.browser.network; the "
                             "run's network-blocked.jsonl names the rule)",
}


WaitUntil = Annotated[Literal["load", "domcontentloaded", "networkidle"],
                      "when the page counts as opened: load (everything loaded), "
                      "domcontentloaded (the HTML is ready: faster), networkidle (no network "
                      "traffic for 0.5s)"]


@contextlib.contextmanager
def navigating(ctx: StepContext, step: str, page: Page, url: str,
               wait_until: str) -> Iterator[None]:
    """Playwright's navigation failures (goto, reload, back, forward) as clear step failures."""
    try:
        yield
    except PlaywrightTimeoutError:
        raise SystemFailure(ctx.masker.text(
            f"{step}: {url} did not finish loading ({wait_until}) within "
            f"{seconds(ctx.timeout)}; the system may be slow: raise the step's timeout, or use "
            "wait_until: domcontentloaded")) from None
    except PlaywrightError as err:
        _settle_error_page(ctx, page, err)
        reason = first_line(err)
        for code, meaning in _NET_ERRORS.items():
            if code in reason:
                reason = meaning
                break
        raise SystemFailure(ctx.masker.text(
            f"{step}: cannot open {url}: {reason}; check the address and that the system "
            "is running")) from None


def answered(ctx: StepContext, step: str, url: str, response: Response | None) -> None:
    """A page that answers with an HTTP error still opens: say so in the log."""
    if response is not None and response.status >= 400:
        ctx.log(f"{step}: {url} answered HTTP {response.status} {response.status_text}",
                "warning")


@step("browser.open", main="url")
def open_(ctx: StepContext,
          url: Annotated[WebAddress, "the address, e.g. http://127.0.0.1:8000/login"],
          wait_until: WaitUntil = "load",
          new_tab: Annotated[bool, "open the address in a new tab (which becomes current)"]
          = False) -> None:
    """Open a web address in the current tab (the browser starts on first use).

    A page that answers with an HTTP error (404, 500) still opens; a warning is logged.
    """
    if not _SCHEME.match(url):
        raise StepArgumentError(f"browser.open: '{url}' is not a full address; write it with "
                                "http:// or https://, e.g. http://127.0.0.1:8000/login")
    ctx.policy.check_url(url, "browser.open")  # no file://, only hosts the worker allows
    session = session_for(ctx)
    page = session.new_page() if new_tab else session.page
    with navigating(ctx, "browser.open", page, url, wait_until):
        response = page.goto(url, wait_until=wait_until, timeout=timeout_ms(ctx))
    answered(ctx, "browser.open", url, response)


def _settle_error_page(ctx: StepContext, page: Page, err: PlaywrightError) -> None:
    # Chromium shows its error page a moment after a failed load; a navigation started before
    # that (e.g. this step's retry) would be cut off by it. Let it arrive now.
    if "net::ERR_" in str(err):
        with contextlib.suppress(PlaywrightError):
            page.wait_for_url("chrome-error://**", wait_until="commit",
                              timeout=min(2000.0, timeout_ms(ctx)))


@step("browser.click", main="target")
def click(ctx: StepContext,
          target: Annotated[Target, "the element to click"],
          button: Annotated[Literal["left", "right", "middle"], "mouse button"] = "left",
          double: Annotated[bool, "double-click"] = False,
          modifiers: Annotated[Modifiers, "keys held down during the click: Control, "
                                               "Shift, Alt, Meta, e.g. [Control] to add a row "
                                               "to a selection"] = [],  # noqa: B006 - never mutated
          opens_tab: Annotated[bool, "the click opens a new tab or pop-up window: wait for it "
                                     "and make it the current tab"] = False) -> None:
    """Click an element (waits until it is visible, enabled and not covered).

    `modifiers: [Control]` is a Ctrl-click (`[Shift]` a Shift-click: select a range). To save
    a file the click downloads, use browser.download instead.
    """
    session = session_for(ctx)
    locator = locate(session.page, target)
    press = Press(button, double, modifiers)
    if not opens_tab:
        _click(ctx, locator, target, press)
        return
    try:
        with session.context.expect_page(timeout=timeout_ms(ctx)) as opened:
            _click(ctx, locator, target, press)
    except PlaywrightTimeoutError:
        raise SystemFailure(ctx.masker.text(
            f"browser.click: clicking {describe(target)} on {session.url} opened no new tab "
            f"within {seconds(ctx.timeout)}; if the page opens in the same tab, remove "
            "opens_tab")) from None
    page = opened.value
    session.switch_to(page)
    with acting(ctx, "browser.click", doing="wait for the new tab to load"):
        page.wait_for_load_state("domcontentloaded", timeout=timeout_ms(ctx))


@dataclass(frozen=True)
class Press:
    button: Literal["left", "right", "middle"]
    double: bool
    modifiers: list[ModifierName]


def _click(ctx: StepContext, locator: Locator, target: Target, press: Press) -> None:
    held = f" holding {'+'.join(press.modifiers)}" if press.modifiers else ""
    with acting(ctx, "browser.click", target=target, doing=f"click it{held}"):
        if press.double:
            locator.dblclick(button=press.button, modifiers=press.modifiers,
                             timeout=timeout_ms(ctx))
        else:
            locator.click(button=press.button, modifiers=press.modifiers,
                          timeout=timeout_ms(ctx))


@step("browser.drag")
def drag(ctx: StepContext,
         target: Annotated[Target, "the element to drag, e.g. a card or a row"],
         to: Annotated[Target, "where to drop it, e.g. a column or a drop zone"]) -> None:
    """Drag an element and drop it onto another (both must be visible on the page).

    Works with pages that use HTML5 drag and drop and with pages that follow the mouse
    (mousedown, mousemove, mouseup). E.g. `- browser.drag: {target: {text: 凭证 001}, to:
    "#approved"}`.
    """
    session = session_for(ctx)
    source = locate(session.page, target)
    drop = locate(session.page, to)
    try:
        # several moves on the way, not one jump: drag libraries (SortableJS, dnd-kit) start a
        # drag only once the pointer has travelled a few pixels with the button down
        source.drag_to(drop, steps=DRAG_MOVES, timeout=timeout_ms(ctx))
    except PlaywrightError as err:
        # Playwright's log names no side: when the drop target is the one missing, say so
        if isinstance(err, PlaywrightTimeoutError) and drop.count() == 0 \
                and source.count() > 0:
            raise SystemFailure(ctx.masker.text(
                f"browser.drag: no element matches {describe(to)} (where to drop) on "
                f"{current_url(ctx)} after {seconds(ctx.timeout)}; check the target (the page "
                "may show it under another name)")) from None
        raise explain(ctx, "browser.drag", err, target=target, url=current_url(ctx),
                      doing=f"drag it onto {describe(to)}") from None


@step("browser.fill")
def fill(ctx: StepContext,
         target: Annotated[Target, "the input field"],
         text: Annotated[SecretText, "what to put in the field (replaces what is there); a "
                                     "secret such as ${credentials.bank.password} works"]) -> None:
    """Clear a field and fill it with text (Chinese works; for key-by-key typing use browser.type).
    """
    session = session_for(ctx)
    session.typing(text)
    locator = locate(session.page, target)
    with acting(ctx, "browser.fill", target=target, doing="fill it"):
        locator.fill(_text_for(ctx, locator, text), timeout=timeout_ms(ctx))


@step("browser.type")
def type_(ctx: StepContext,
          target: Annotated[Target, "the input field"],
          text: Annotated[SecretText, "what to type (a secret works, as in browser.fill)"],
          delay: Annotated[Duration, "pause between keys, e.g. 50ms (for pages that react to "
                                     "every key)"] = 0) -> None:
    """Type text key by key into a field, after what it already holds.

    Use this for pages that check each key press (search suggestions, masked inputs); otherwise
    browser.fill is faster.
    """
    session = session_for(ctx)
    session.typing(text)
    locator = locate(session.page, target)
    with acting(ctx, "browser.type", target=target, doing="type into it"):
        locator.press_sequentially(_text_for(ctx, locator, text), delay=delay * 1000,
                                   timeout=timeout_ms(ctx))


def _text_for(ctx: StepContext, locator: Locator, text: str | Secret) -> str:
    """The text to put in a field. A secret bound to hosts goes only into a page (or frame) of
    one of them: the address of the document that holds the field is read right before."""
    if isinstance(text, Secret) and text.hosts is not None:
        where = str(locator.evaluate("field => field.ownerDocument.location.href",
                                     timeout=timeout_ms(ctx)))
        return reveal(text, where)
    return text if isinstance(text, str) else text.reveal()


@step("browser.select")
def select(ctx: StepContext,
           target: Annotated[Target, "the drop-down (<select>)"],
           option: Annotated[Text | None, "the option to choose: its value or its text"] = None,
           options: Annotated[list[str] | None, "several options to choose (multi-select lists)"]
           = None) -> None:
    """Choose an option of a drop-down list by its value or its visible text."""
    if (option is None) == (options is None):
        raise StepArgumentError("browser.select needs either option (one choice) or options "
                                "(a list), e.g. {target: {label: 币种}, option: 人民币}")
    wanted: str | list[str] = option if option is not None else list(options or [])
    locator = locate(session_for(ctx).page, target)
    with acting(ctx, "browser.select", target=target, doing=f"choose {wanted!r}"):
        locator.select_option(wanted, timeout=timeout_ms(ctx))


@step("browser.check", main="target")
def check(ctx: StepContext, target: Annotated[Target, "the checkbox or radio button"]) -> None:
    """Tick a checkbox or choose a radio button (nothing happens if it is already ticked)."""
    locator = locate(session_for(ctx).page, target)
    with acting(ctx, "browser.check", target=target, doing="tick it"):
        locator.check(timeout=timeout_ms(ctx))


@step("browser.uncheck", main="target")
def uncheck(ctx: StepContext, target: Annotated[Target, "the checkbox"]) -> None:
    """Clear a checkbox (nothing happens if it is already clear)."""
    locator = locate(session_for(ctx).page, target)
    with acting(ctx, "browser.uncheck", target=target, doing="clear it"):
        locator.uncheck(timeout=timeout_ms(ctx))


@step("browser.press", main="key")
def press(ctx: StepContext,
          key: Annotated[str, "the key or combination: Enter, Tab, Escape, ArrowDown, "
                              "Control+A, Shift+Tab"],
          target: Annotated[Target | None, "the element to press it in (default: whatever "
                                           "has the focus)"] = None) -> None:
    """Press a key or key combination, e.g. `- browser.press: Enter`."""
    session = session_for(ctx)
    try:
        if target is None:
            session.page.keyboard.press(key)
            return
        locator = locate(session.page, target)
        with acting(ctx, "browser.press", target=target, doing=f"press {key} in it"):
            locator.press(key, timeout=timeout_ms(ctx))
    except SystemFailure as err:
        if "Unknown key" in str(err):
            raise _unknown_key(key) from None
        raise
    except PlaywrightError as err:
        if "Unknown key" in str(err):
            raise _unknown_key(key) from None
        raise SystemFailure(f"browser.press: could not press {key} on {session.url}: "
                            f"{first_line(err)}") from None


def _unknown_key(key: str) -> StepArgumentError:
    return StepArgumentError(f"browser.press: '{key}' is not a key name; write keys like Enter, "
                             "Tab, Escape, Backspace, ArrowDown, F5, a, and combinations like "
                             "Control+A or Shift+Tab")


@step("browser.hover", main="target")
def hover(ctx: StepContext, target: Annotated[Target, "the element to point at"]) -> None:
    """Move the mouse over an element (e.g. to open a menu that shows on hover)."""
    locator = locate(session_for(ctx).page, target)
    with acting(ctx, "browser.hover", target=target, doing="point at it"):
        locator.hover(timeout=timeout_ms(ctx))
