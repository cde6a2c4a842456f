"""browser.read_list: repeated blocks (product cards, div-based lists) read into rows.

Speed: a page's blocks are read in one round trip to the browser. Fields given as CSS or XPath
are found inside each block by the page itself (querySelectorAll / document.evaluate) in that
same call. Fields that need Playwright's own engines (role, label, text, test_id..., has_text,
inside, selectors such as 'text=...') cost one more round trip each, over all blocks at once:
every element such a field matches comes back with its place in the document, and that place
tells which block holds it. Nothing on the page is changed to read it.
"""

from __future__ import annotations

import difflib
import json
import re
from typing import Annotated, Any

from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import Locator, Page
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError
from pydantic import BeforeValidator, Field, ValidationError, model_validator

from libs.context import StepContext
from libs.errors import SystemFailure
from libs.registry import describe_error, step
from libs.steps.browser.failures import acting, explain, seconds
from libs.steps.browser.paging import next_pages
from libs.steps.browser.session import session_for, timeout_ms
from libs.steps.browser.targets import describe, locate
from libs.target_rules import KINDS, RELATIONS, selector_problem, spec_problem
from libs.types import Rows, Target, TargetSpec

STEP = "browser.read_list"


class FieldSpec(TargetSpec):
    """One field of every block: an element inside the block, as a target map, plus what of it
    to read. With no way to find an element (only `attribute`), the block itself."""

    attribute: str | None = Field(None, description="read this attribute (href, src, title, "
                                                    "data-id, ...) instead of the text")

    @model_validator(mode="after")
    def _consistent(self) -> FieldSpec:  # replaces TargetSpec's: a field may be the block
        wrong = _field_problem(self)
        if wrong:
            raise ValueError(wrong)
        return self


def _field_problem(field: FieldSpec) -> str | None:
    given = {name: getattr(field, name) for name in field.model_fields_set
             if name != "attribute"}
    if field.frame is not None:
        return ("'frame' is not for a field: a field is looked for inside each block; put "
                "frame on items instead")
    places = [rel for rel in RELATIONS if given.get(rel) is not None]
    if places:
        return (f"'{places[0]}' is not for a field: a place beside a text is looked for on the "
                "whole page, not in each block; find the field inside the block by css, role "
                "or text instead")
    if not any(given.get(kind) is not None for kind in KINDS):
        if field.attribute is None:
            return ("it names no element and no attribute; write e.g. {css: .price}, or "
                    "{attribute: data-id} to read the block's own attribute")
        if given.get("has_text") is not None or given.get("inside") is not None:
            return ("has_text and inside narrow what css, role, text... find; name one of "
                    + ", ".join(KINDS))
        return None  # {attribute: data-id}: the block itself
    return spec_problem(given)


FieldTarget = Annotated[
    str | FieldSpec,
    Field(description="a selector inside the block ('.title'), or a map {css: .title} / "
                      "{role: link} / {text: ...} ... with optional attribute and nth"),
]

_FIELD_KEYS = ("one way to find it (" + ", ".join(KINDS) + "), plus attribute, nth, exact, "
               "has_text, inside")
_EXAMPLE = "'.price' or a map such as {css: a, attribute: href}"


def _check_fields(value: Any) -> Any:
    """Refuse a wrong `fields` with one sentence naming the field, before anything runs (the
    checker validates literal arguments through this too)."""
    if not isinstance(value, dict):
        raise ValueError("expected a map from each row key to where its value is inside the "
                         "block, e.g. {name: .title, price: .price}")
    if not value:
        raise ValueError("no field is named; name at least one, e.g. "
                         "{name: .title, price: .price}")
    for name, field in value.items():
        if not str(name).strip():
            raise ValueError("a field has an empty name; name it as the row's key, e.g. "
                             "price: .price")
        if isinstance(field, str):
            if not field.strip():
                raise ValueError(f"the field '{name}' is empty; write a selector inside the "
                                 f"block such as {_EXAMPLE}")
            wrong = selector_problem(field)
            if wrong:
                raise ValueError(f"the field '{name}': {wrong}")
            continue
        if isinstance(field, FieldSpec):
            continue  # validated when it was made
        if not isinstance(field, dict):
            shown = json.dumps(field, ensure_ascii=False, default=str)
            raise ValueError(f"the field '{name}' is {shown}; write a selector inside the "
                             f"block such as {_EXAMPLE}")
        unknown = [str(key) for key in field if key not in FieldSpec.model_fields]
        if unknown:
            close = difflib.get_close_matches(unknown[0], list(FieldSpec.model_fields), n=1)
            hint = f"did you mean '{close[0]}'? " if close else ""
            raise ValueError(f"the field '{name}' cannot have '{unknown[0]}'; {hint}a field map "
                             f"uses {_FIELD_KEYS}")
        try:
            FieldSpec.model_validate(field)
        except ValidationError as err:
            raise ValueError(f"the field '{name}': {describe_error(err)}") from None
    return value


Fields = Annotated[dict[str, FieldTarget], BeforeValidator(_check_fields)]

# Playwright's own selector syntax (engine=..., chains, XPath, quoted text): not for the page's
# querySelectorAll. A plain string may still prove to be Playwright-only CSS (':has-text()',
# ':visible'): the page says so when querySelectorAll throws, and Playwright reads it then.
_PLAYWRIGHT_ONLY = re.compile(r"^\s*(?:[a-zA-Z_][\w-]*\s*=|//|\.\.|[\"'(])|>>")

# What a person reads off an element: a field's value, a drop-down's chosen text, else its text.
_SHOWN = """const shown = el => {
    if (el instanceof HTMLSelectElement) return (el.selectedOptions[0]?.text ?? "").trim();
    if (el instanceof HTMLInputElement || el instanceof HTMLTextAreaElement)
      return el.value.trim();
    return (el.innerText ?? el.textContent ?? "").trim();
  };
  const value = (el, attribute) => el == null ? null
    : attribute == null ? shown(el) : el.getAttribute(attribute);
  // Where an element is in the document: child indexes from the top ("s" = into a shadow root).
  const place = el => {
    const parts = [];
    for (let n = el, up = n.parentNode; up; n = up, up = n.parentNode) {
      parts.push(Array.prototype.indexOf.call(up.children, n));
      if (up instanceof ShadowRoot) { parts.push("s"); up = up.host; }
    }
    return parts.reverse().join("/");
  };"""

# One round trip: every block's fast fields, and (when some field needs Playwright) each
# block's place in the document.
_READ = """(blocks, fields) => {
  """ + _SHOWN + """
  const slow = new Set(fields.flatMap((f, i) => f.how === "playwright" ? [i] : []));
  // Playwright's CSS enters open shadow roots (web components); querySelectorAll does not.
  const inShadows = (block, selector) => {
    const found = [];
    const walk = root => {
      for (const e of root.querySelectorAll("*"))
        if (e.shadowRoot) { found.push(...e.shadowRoot.querySelectorAll(selector));
                            walk(e.shadowRoot); }
    };
    if (block.shadowRoot) { found.push(...block.shadowRoot.querySelectorAll(selector));
                            walk(block.shadowRoot); }
    walk(block);
    return found;
  };
  const find = (block, f) => {
    if (f.how === "self") return block;
    let found = [];
    if (f.how === "css") {
      found = Array.from(block.querySelectorAll(f.selector));
      if (!found.length) found = inShadows(block, f.selector);
    } else {
      const xpath = f.selector.startsWith("/") ? "." + f.selector : f.selector;
      const hits = document.evaluate(xpath, block, null, XPathResult.ORDERED_NODE_SNAPSHOT_TYPE);
      for (let i = 0; i < hits.snapshotLength; i++)
        if (hits.snapshotItem(i).nodeType === 1) found.push(hits.snapshotItem(i));
    }
    return found.at(f.nth) ?? null;
  };
  fields.forEach((f, i) => {
    if (slow.has(i) || !blocks.length) return;
    try { find(blocks[0], f); } catch (e) { slow.add(i); }  // Playwright-only syntax
  });
  return {
    rows: blocks.map(b => fields.map((f, i) => slow.has(i) ? null
                                                          : value(find(b, f), f.attribute))),
    slow: Array.from(slow),
    places: slow.size ? blocks.map(place) : [],
  };
}"""

# One round trip per slow field: every element it matches in any block, with its place.
_MATCHES = """(els, attribute) => {
  """ + _SHOWN + """
  return els.map(e => [place(e), value(e, attribute)]);
}"""


@step("browser.read_list")
def read_list(ctx: StepContext,
              items: Annotated[Target, "the repeated block: every element it matches is one "
                                       "row, e.g. {css: .product-card}"],
              fields: Annotated[Fields, "the row's keys, each with where to find its value "
                                        "inside the block, e.g. {name: .title, link: {css: a, "
                                        "attribute: href}}"],
              next_page: Annotated[Target | None, "the 'next page' button or link: click it "
                                                  "and read on until it is gone, hidden or "
                                                  "disabled"] = None,
              max_pages: Annotated[int, Field(ge=1), "read at most this many pages"] = 100,
              ) -> Rows:
    """Read repeated blocks (product cards, result entries, div-based lists) into rows.

    Every element `items` matches is one row. A field is a selector inside the block
    (`.price`) or a target map (role with name, label, text, css, ...; has_text, inside,
    exact, nth) with an optional `attribute`, e.g. `fields: {name: .title, link: {css: a,
    attribute: href}, sku: {attribute: data-sku}}`. Each field gives the text its element
    shows inside the block, trimmed (input fields: their value), or with `attribute` that
    attribute's value. When a field matches several elements in a block, the first is read
    (nth picks another: 1 = the second, -1 = the last); a field given only as
    `{attribute: data-id}` reads the block itself. A field with no element in a block (or no
    such attribute) is null, so one card without a price does not stop the list. Waits up to
    the step's timeout for the first block, then fails. With next_page, every page is read in
    turn; after each click the step waits until the blocks show new content. A 'load more'
    button works too: the blocks it adds below those shown become the next rows.
    """
    specs = [_spec(field) for field in fields.values()]
    page = session_for(ctx).page
    blocks = locate(page, items)
    names = list(fields)

    def now() -> Rows:
        return _read(ctx, blocks, names, specs, fields)

    with acting(ctx, STEP, target=items, doing="read the items"):
        rows = now()  # one round trip when the list is there, as it mostly is
    if not rows:
        _wait_for_first(ctx, blocks, items, page)
        with acting(ctx, STEP, target=items, doing="read the items"):
            rows = now()
    shown = list(rows)
    for more in next_pages(ctx, STEP, page, first=rows, read=now, rows=lambda r: r,
                           target=items, next_page=next_page, max_pages=max_pages,
                           what=f"the items {describe(items)}"):
        # A "load more" button adds blocks below the ones shown: only the new ones are new rows.
        kept = len(shown) if more[:len(shown)] == shown else 0
        rows.extend(more[kept:])
        shown = more
    return rows


def _wait_for_first(ctx: StepContext, blocks: Locator, items: Target, page: Page) -> None:
    with acting(ctx, STEP, target=items, doing="find the items"):
        try:
            blocks.first.wait_for(state="attached", timeout=timeout_ms(ctx))
        except PlaywrightTimeoutError:
            raise SystemFailure(ctx.masker.text(
                f"{STEP}: no element matches the items target {describe(items)} on {page.url} "
                f"after {seconds(ctx.timeout)}; check the target (the page may show the list "
                "under another name, or an empty list)")) from None


def _spec(field: str | FieldSpec) -> dict[str, Any]:
    """How the page finds a field: {how: css|xpath|self|playwright, selector, nth, attribute}
    (the field was checked by _check_fields)."""
    if isinstance(field, str):
        how = "playwright" if _PLAYWRIGHT_ONLY.search(field) else "css"
        return {"how": how, "selector": field, "nth": 0, "attribute": None}
    kinds = [kind for kind in KINDS if getattr(field, kind) is not None]
    narrowed = field.has_text is not None or field.inside is not None
    how = "self" if not kinds else "playwright" if narrowed or kinds[0] not in ("css", "xpath") \
        else kinds[0]
    return {"how": how, "selector": field.css if how == "css" else field.xpath,
            "nth": field.nth or 0, "attribute": field.attribute}


def _in_block(field: str | FieldSpec) -> Target:
    """The field as a target for locate() inside the blocks: nth is left out (it counts
    inside each block, not over all blocks: the caller applies it per block)."""
    if isinstance(field, str):
        return field
    return TargetSpec.model_validate({name: getattr(field, name) for name in
                                      field.model_fields_set if name not in ("nth", "attribute")})


def _read(ctx: StepContext, blocks: Locator, names: list[str], specs: list[dict[str, Any]],
          fields: dict[str, str | FieldSpec]) -> Rows:
    """The rows the blocks show now ([] when there are none yet): never waits."""
    data = blocks.evaluate_all(_READ, specs)
    table: list[list[Any]] = data["rows"]
    at = {place: i for i, place in enumerate(data["places"])}
    for f in data["slow"] if table else []:
        try:
            matches = locate(blocks, _in_block(fields[names[f]])).evaluate_all(
                _MATCHES, specs[f]["attribute"])
        except PlaywrightError as err:
            if "context was destroyed" in str(err):
                raise  # the page changed under us: paging reads again
            raise explain(ctx, STEP, err, target=fields[names[f]], url=blocks.page.url,
                          doing=f"read the field '{names[f]}'") from None
        found: list[list[Any]] = [[] for _ in table]
        for place, value in matches:
            block = _holder(str(place), at)
            if block is not None:
                found[block].append(value)
        nth = int(specs[f]["nth"])
        for row, values in zip(table, found, strict=True):
            row[f] = values[nth] if -len(values) <= nth < len(values) else None
    return [dict(zip(names, row, strict=True)) for row in table]


def _holder(place: str, blocks: dict[str, int]) -> int | None:
    """The innermost block whose place is this element's or above it."""
    while place:
        if place in blocks:
            return blocks[place]
        place = place.rpartition("/")[0]
    return None
