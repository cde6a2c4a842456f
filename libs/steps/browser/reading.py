"""Browser steps that read from a page: text, attributes, scripts, screenshots."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from playwright.sync_api import Error as PlaywrightError

from libs.context import StepContext
from libs.registry import step
from libs.steps.browser.failures import acting, explain
from libs.steps.browser.session import session_for, timeout_ms
from libs.steps.browser.targets import locate
from libs.types import Target, WritePath

# What a person reads off an element: a field's value, a drop-down's chosen text, else its text.
_SHOWN_TEXT = """el => {
  if (el instanceof HTMLSelectElement) return el.selectedOptions[0]?.text ?? "";
  if (el instanceof HTMLInputElement || el instanceof HTMLTextAreaElement) return el.value;
  return el.innerText ?? el.textContent ?? "";
}"""


@step("browser.read_text", main="target")
def read_text(ctx: StepContext,
              target: Annotated[Target, "the element to read"],
              all: Annotated[bool, "read every matching element and return a list (does not "
                                   "wait: returns what is on the page now, [] if none)"]
              = False) -> str | list[str]:
    """Read the text an element shows, trimmed (input fields: their value).

    With `all: true`, returns the texts of every match as a list; put a browser.wait_for before
    it if the page is still loading.
    """
    locator = locate(session_for(ctx).page, target)
    with acting(ctx, "browser.read_text", target=target, doing="read its text"):
        if all:
            texts = locator.evaluate_all(f"els => els.map({_SHOWN_TEXT})")
            return [str(text).strip() for text in texts]
        return str(locator.evaluate(_SHOWN_TEXT, timeout=timeout_ms(ctx))).strip()


@step("browser.read_attribute")
def read_attribute(ctx: StepContext,
                   target: Annotated[Target, "the element"],
                   name: Annotated[str, "the attribute, e.g. href, value, title, data-id"],
                   ) -> str | None:
    """Read an attribute of an element (null when the element does not have it)."""
    locator = locate(session_for(ctx).page, target)
    with acting(ctx, "browser.read_attribute", target=target, doing=f"read its '{name}'"):
        return locator.get_attribute(name, timeout=timeout_ms(ctx))


@step("browser.evaluate", main="script")
def evaluate(ctx: StepContext,
             script: Annotated[str, "JavaScript: an expression (document.title), a function "
                                    "(() => ...), or statements with return"]) -> Any:
    """Run JavaScript in the current page and return its result (numbers, text, lists, maps).

    The script must finish by itself: a promise that never settles holds the robot. Refused in
    a browser that was given a secret (browser.fill/type of ${credentials...}): a script could
    read it back; `browser.close` starts a fresh browser.
    """
    session = session_for(ctx)
    session.no_secrets_typed("browser.evaluate")
    page = session.page
    try:
        return page.evaluate(script)
    except PlaywrightError as err:
        if "Illegal return statement" not in str(err):
            raise explain(ctx, "browser.evaluate", err, target=None, url=page.url,
                          doing="run the script") from None
    # A function body ("...; return x") is not an expression; run it as one function's body.
    with acting(ctx, "browser.evaluate", doing="run the script"):
        return page.evaluate(f"async () => {{\n{script}\n}}")


@step("browser.screenshot", main="path")
def screenshot(ctx: StepContext,
               path: Annotated[WritePath | None, "where to save the PNG (relative: in the run's "
                                                 "output folder); default "
                                                 "screenshots/<time>.png"] = None,
               target: Annotated[Target | None, "only this element"] = None,
               full_page: Annotated[bool, "the whole page, not just the visible part"] = False,
               ) -> str:
    """Save a screenshot of the current page (or of one element); returns the file's path."""
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S-%f")[:-3]
    out = ctx.output_path(path or f"screenshots/{stamp}.png", "browser.screenshot")
    page = session_for(ctx).page
    if target is not None:
        locator = locate(page, target)
        with acting(ctx, "browser.screenshot", target=target, doing="take its screenshot"):
            locator.screenshot(path=out, timeout=timeout_ms(ctx))
    else:
        with acting(ctx, "browser.screenshot", doing="take a screenshot"):
            page.screenshot(path=out, full_page=full_page, timeout=timeout_ms(ctx))
    ctx.artifact(out, "screenshot")
    return str(out.resolve())
