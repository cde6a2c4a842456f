"""browser.read_table: an HTML or ARIA table (over one or many pages) as a list of rows."""

from __future__ import annotations

from typing import Annotated, Any

from playwright.sync_api import Locator
from pydantic import Field

from libs.context import StepContext
from libs.errors import StepArgumentError
from libs.registry import step
from libs.steps.browser.failures import acting
from libs.steps.browser.paging import next_pages
from libs.steps.browser.session import session_for, timeout_ms
from libs.steps.browser.targets import describe, locate
from libs.types import Target

# One round trip per page: header texts and the body rows' cell texts, from an HTML <table> or
# an ARIA one (div-based grids: [role=table|grid|treegrid] > [role=row] > [role=cell|gridcell|
# columnheader|rowheader]).
_READ = """el => {
  const GRID = "[role=table],[role=grid],[role=treegrid]";
  const CELL = "[role=cell],[role=gridcell],[role=columnheader],[role=rowheader]";
  const table = el.tagName === "TABLE" || el.matches(GRID) ? el
              : el.querySelector("table, " + GRID);
  if (!table) return null;
  const text = c => (c.innerText ?? c.textContent ?? "").trim();
  // "暂无数据" / "加载中…": one cell across the whole table is a message, not data
  const message = (cells, span, width) => width > 1 && cells.length === 1 && span >= width;
  if (table.tagName === "TABLE") {
    const rows = Array.from(table.rows).filter(r => r.parentElement.tagName !== "TFOOT");
    const head = rows.filter(r => r.parentElement.tagName === "THEAD");
    const header = head.length ? head[head.length - 1] : rows[0];
    const body = head.length ? rows.filter(r => r.parentElement.tagName !== "THEAD")
                             : rows.slice(1);
    const width = header ? header.cells.length : 0;
    return {
      headers: header ? Array.from(header.cells, text) : [],
      rows: body.filter(r => r.cells.length > 0)
                .filter(r => !message(r.cells, r.cells[0].colSpan, width))
                .map(r => Array.from(r.cells, text)),
    };
  }
  // ARIA: a row or cell belongs to the nearest grid / row around it (grids may nest).
  const index = (e, name) => Number(e.getAttribute(name));
  const ordered = (list, name) => list.every(e => e.hasAttribute(name))
    ? list.slice().sort((a, b) => index(a, name) - index(b, name)) : list;
  let rows = Array.from(table.querySelectorAll("[role=row]"))
    .filter(r => r.parentElement.closest(GRID) === table)
    .map(r => ({el: r, cells: Array.from(r.querySelectorAll(CELL))
                                    .filter(c => c.parentElement.closest("[role=row]") === r)}));
  // Grids with pinned columns split one row into several [role=row]s of one aria-rowindex,
  // and virtual scrolling may put rows out of order: aria-rowindex/colindex say where they go.
  if (rows.length && rows.every(r => r.el.hasAttribute("aria-rowindex"))) {
    const merged = new Map();
    for (const r of rows) {
      const at = index(r.el, "aria-rowindex");
      if (merged.has(at)) merged.get(at).cells.push(...r.cells); else merged.set(at, r);
    }
    rows = Array.from(merged.entries()).sort((a, b) => a[0] - b[0]).map(e => e[1]);
  }
  rows.forEach(r => { r.cells = ordered(r.cells, "aria-colindex"); });
  const heading = r => r.cells.length > 0
    && r.cells.every(c => c.getAttribute("role") === "columnheader");
  const head = rows.filter(heading);
  const header = head.length ? head[head.length - 1] : rows[0];
  const body = head.length ? rows.filter(r => !heading(r)) : rows.slice(1);
  const width = header ? header.cells.length : 0;
  return {
    headers: header ? header.cells.map(text) : [],
    rows: body.filter(r => r.cells.length > 0)
              .filter(r => !message(r.cells, index(r.cells[0], "aria-colspan"), width))
              .map(r => r.cells.map(text)),
  };
}"""


TABLES = "table, [role=table], [role=grid], [role=treegrid]"


@step("browser.read_table", main="target")
def read_table(ctx: StepContext,
               target: Annotated[Target, "the table (or an element holding one): a <table> "
                                         "or a div-based [role=table] / [role=grid]"] = TABLES,
               next_page: Annotated[Target | None, "the 'next page' button or link: click it "
                                                   "and read on until it is gone, hidden or "
                                                   "disabled"] = None,
               max_pages: Annotated[int, Field(ge=1), "read at most this many pages"] = 100,
               ) -> list[dict[str, str]]:
    """Read a table into rows: the header row gives the keys, one map per body row.

    An HTML <table>: headers come from <thead> (its last row) or else the first row; footer
    (<tfoot>) rows are left out. An ARIA table or grid (div-based, [role=table], [role=grid],
    [role=treegrid]): its [role=row]s, the last row of [role=columnheader]s (or else the first
    row) giving the headers, the [role=cell]/[role=gridcell]/[role=rowheader]s the values, in
    aria-rowindex/aria-colindex order where the grid gives them. Cell texts are trimmed; empty
    headers become 列1, 列2...; repeated headers get _2, _3; a lone message row spanning the
    table ("暂无数据") is left out. With next_page, every page is read in turn; after each
    click the step waits until the table shows new rows.
    """
    page = session_for(ctx).page
    table = locate(page, target)
    data = _read(ctx, table, target)
    rows = _rows(data)

    def again() -> dict[str, Any] | None:
        found = table.evaluate(_READ, timeout=timeout_ms(ctx))
        return dict(found) if found else None

    for more in next_pages(ctx, "browser.read_table", page, first=data, read=again,
                           rows=lambda d: list(d["rows"]), target=target, next_page=next_page,
                           max_pages=max_pages, what=f"the table {describe(target)}"):
        rows.extend(_rows(more))
    return rows


def _read(ctx: StepContext, table: Locator, target: Target) -> dict[str, Any]:
    with acting(ctx, "browser.read_table", target=target, doing="read the table"):
        data = table.evaluate(_READ, timeout=timeout_ms(ctx))
    if data is None:
        raise StepArgumentError(f"browser.read_table: {describe(target)} is not a table and holds "
                                "none; point the target at a <table>, e.g. '#result table', or "
                                "at a [role=table] / [role=grid] element")
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
