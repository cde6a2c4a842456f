"""browser.read_table: an HTML table (over one or many pages) as a list of rows."""

from __future__ import annotations

import json
from typing import Annotated, Any

from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import Locator, Page
from pydantic import Field

from libs.context import StepContext
from libs.errors import StepArgumentError, SystemFailure
from libs.registry import step
from libs.steps.browser.failures import acting, explain, pick_one, seconds
from libs.steps.browser.session import session_for, timeout_ms
from libs.steps.browser.targets import describe, locate
from libs.types import Target

# One round trip per page: header texts and the body rows' cell texts.
_READ = """el => {
  const table = el.tagName === "TABLE" ? el : el.querySelector("table");
  if (!table) return null;
  const text = c => (c.innerText ?? c.textContent ?? "").trim();
  const rows = Array.from(table.rows).filter(r => r.parentElement.tagName !== "TFOOT");
  const head = rows.filter(r => r.parentElement.tagName === "THEAD");
  const header = head.length ? head[head.length - 1] : rows[0];
  const body = head.length ? rows.filter(r => r.parentElement.tagName !== "THEAD")
                           : rows.slice(1);
  const width = header ? header.cells.length : 0;
  return {
    headers: header ? Array.from(header.cells, text) : [],
    rows: body.filter(r => r.cells.length > 0)
              // "暂无数据" / "加载中…": one cell across the whole table is a message, not data
              .filter(r => !(width > 1 && r.cells.length === 1 && r.cells[0].colSpan >= width))
              .map(r => Array.from(r.cells, text)),
  };
}"""

# Can the next-page control be used: shown, and neither it nor its wrapper (li) disabled?
_USABLE = """els => els.map(e => {
  const box = e.getBoundingClientRect();
  const shown = box.width > 0 && box.height > 0 && getComputedStyle(e).visibility !== "hidden";
  const off = x => !!x && (x.disabled === true || x.getAttribute("aria-disabled") === "true"
                           || /(^|[\\s_-])disabled/i.test(x.getAttribute("class") || ""));
  return shown && !off(e) && !off(e.parentElement);
})"""


@step("browser.read_table", main="target")
def read_table(ctx: StepContext,
               target: Annotated[Target, "the table (or an element holding one)"] = "table",
               next_page: Annotated[Target | None, "the 'next page' button or link: click it "
                                                   "and read on until it is gone, hidden or "
                                                   "disabled"] = None,
               max_pages: Annotated[int, Field(ge=1), "read at most this many pages"] = 100,
               ) -> list[dict[str, str]]:
    """Read an HTML table into rows: the header row gives the keys, one map per body row.

    Headers come from <thead> (its last row) or else the first row; cell texts are trimmed;
    empty headers become 列1, 列2...; repeated headers get _2, _3. Footer (<tfoot>) rows and a
    lone message row spanning the table ("暂无数据") are left out. With next_page, every page is
    read in turn; after each click the step waits until the table shows new rows.
    """
    page = session_for(ctx).page
    table = locate(page, target)
    data = _read(ctx, table, target)
    rows = _rows(data)
    pages = 1
    while next_page is not None:
        more = locate(page, next_page)
        if not _usable(ctx, more, next_page, page):
            break
        if pages >= max_pages:
            ctx.log(f"browser.read_table: stopped after max_pages={max_pages} pages although "
                    f"{describe(next_page)} still offers more", "warning")
            break
        with acting(ctx, "browser.read_table", target=next_page, doing="go to the next page"):
            more.click(timeout=timeout_ms(ctx))
        data = _changed(ctx, page, table, target, data, next_page, pages + 1)
        rows.extend(_rows(data))
        pages += 1
    return rows


def _read(ctx: StepContext, table: Locator, target: Target) -> dict[str, Any]:
    with acting(ctx, "browser.read_table", target=target, doing="read the table"):
        data = table.evaluate(_READ, timeout=timeout_ms(ctx))
    if data is None:
        raise StepArgumentError(f"browser.read_table: {describe(target)} is not a table and holds "
                                "none; point the target at a <table>, e.g. '#result table'")
    return dict(data)


def _keys(headers: list[str]) -> list[str]:
    keys: list[str] = []
    for i, header in enumerate(headers):
        key = header or f"列{i + 1}"
        n = 1
        while key in keys:
            n += 1
            key = f"{header or f'列{i + 1}'}_{n}"
        keys.append(key)
    return keys


def _rows(data: dict[str, Any]) -> list[dict[str, str]]:
    keys = _keys(list(data["headers"]))
    out = []
    for cells in data["rows"]:
        row = dict.fromkeys(keys, "")
        for i, cell in enumerate(cells):
            row[keys[i] if i < len(keys) else f"列{i + 1}"] = cell
        out.append(row)
    return out


def _usable(ctx: StepContext, more: Locator, next_page: Target, page: Page) -> bool:
    with acting(ctx, "browser.read_table", target=next_page, doing="find the next-page control"):
        usable = more.evaluate_all(_USABLE)
    if len(usable) > 1:
        raise StepArgumentError(
            f"browser.read_table: the next_page target {describe(next_page)} matches "
            f"{len(usable)} elements on {page.url}; {pick_one(next_page)}")
    return bool(usable and usable[0])


def _changed(ctx: StepContext, page: Page, table: Locator, target: Target,
             before: dict[str, Any], next_page: Target, number: int) -> dict[str, Any]:
    """Wait until the table shows a new, settled set of rows after a page change."""
    old = json.dumps(before["rows"], ensure_ascii=False)
    last = None
    while True:
        try:
            data = table.evaluate(_READ, timeout=timeout_ms(ctx))
        except PlaywrightError as err:
            # A server-side page change reloads the document under our feet: just read again.
            if ctx.remaining <= 0 or "context was destroyed" not in str(err):
                raise explain(ctx, "browser.read_table", err, target=target, url=page.url,
                              doing=f"read page {number} of the table") from None
            continue
        now = json.dumps(data["rows"], ensure_ascii=False) if data else old
        if now != old and data and data["rows"] and now == last:
            return dict(data)
        last = now
        if ctx.remaining <= 0:
            raise SystemFailure(ctx.masker.text(
                f"browser.read_table: the table {describe(target)} did not change within "
                f"{seconds(ctx.timeout)} after clicking {describe(next_page)} for page {number} "
                f"on {page.url}; if that was the last page, the next-page control should be "
                "hidden or disabled there; if the system is slow, raise the step's timeout"))
        page.wait_for_timeout(100)
