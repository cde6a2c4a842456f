"""Reading over several pages: click 'next page', wait for new content, read again.

Shared by browser.read_table and browser.read_list. A step gives a function that reads what is
shown now (None when it is not there yet) and a function picking out the rows that must change;
this module clicks, waits for those rows to change and settle, and stops where the control is
gone, hidden or disabled, or at max_pages.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import Locator, Page

from libs.context import StepContext
from libs.errors import StepArgumentError, SystemFailure
from libs.steps.browser.failures import acting, explain, pick_one, seconds
from libs.steps.browser.session import timeout_ms
from libs.steps.browser.targets import describe, locate
from libs.types import Target

T = TypeVar("T")

# Can the next-page control be used: shown, and neither it nor its wrapper (li) disabled?
_USABLE = """els => els.map(e => {
  const box = e.getBoundingClientRect();
  const shown = box.width > 0 && box.height > 0 && getComputedStyle(e).visibility !== "hidden";
  const off = x => !!x && (x.disabled === true || x.getAttribute("aria-disabled") === "true"
                           || /(^|[\\s_-])disabled/i.test(x.getAttribute("class") || ""));
  return shown && !off(e) && !off(e.parentElement);
})"""


def next_pages(ctx: StepContext, step: str, page: Page, *, first: T,
               read: Callable[[], T | None], rows: Callable[[T], list[Any]],
               target: Target, next_page: Target | None, max_pages: int,
               what: str) -> Iterator[T]:
    """Each further page's content, after clicking next_page; `first` is page 1's.

    `target` is what is read; `what` names it in messages: "the table '#trades'".
    """
    before, number = first, 1
    while next_page is not None:
        more = locate(page, next_page)
        if not _usable(ctx, step, more, next_page, page):
            return
        if number >= max_pages:
            ctx.log(f"{step}: stopped after max_pages={max_pages} pages although "
                    f"{describe(next_page)} still offers more", "warning")
            return
        with acting(ctx, step, target=next_page, doing="go to the next page"):
            more.click(timeout=timeout_ms(ctx))
        number += 1
        before = _changed(ctx, step, page, read, rows, before, target, next_page, number, what)
        yield before


def _usable(ctx: StepContext, step: str, more: Locator, next_page: Target, page: Page) -> bool:
    with acting(ctx, step, target=next_page, doing="find the next-page control"):
        usable = more.evaluate_all(_USABLE)
    if len(usable) > 1:
        raise StepArgumentError(
            f"{step}: the next_page target {describe(next_page)} matches "
            f"{len(usable)} elements on {page.url}; {pick_one(next_page)}")
    return bool(usable and usable[0])


def _changed(ctx: StepContext, step: str, page: Page, read: Callable[[], T | None],
             rows: Callable[[T], list[Any]], before: T, target: Target, next_page: Target,
             number: int, what: str) -> T:
    """Wait until the page shows a new, settled set of rows after a page change."""
    old = json.dumps(rows(before), ensure_ascii=False)
    last = None
    while True:
        try:
            data = read()
        except PlaywrightError as err:
            # A server-side page change reloads the document under our feet: just read again.
            if ctx.remaining <= 0 or "context was destroyed" not in str(err):
                raise explain(ctx, step, err, target=target, url=page.url,
                              doing=f"read page {number} of {what}") from None
            continue
        now = json.dumps(rows(data), ensure_ascii=False) if data is not None else old
        if now != old and data is not None and rows(data) and now == last:
            return data
        last = now
        if ctx.remaining <= 0:
            raise SystemFailure(ctx.masker.text(
                f"{step}: {what} did not change within "
                f"{seconds(ctx.timeout)} after clicking {describe(next_page)} for page {number} "
                f"on {page.url}; if that was the last page, the next-page control should be "
                "hidden or disabled there; if the system is slow, raise the step's timeout"))
        page.wait_for_timeout(100)
