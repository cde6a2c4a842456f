"""browser.read_list on one page of 200 product cards × 4 fields, against a per-element loop.

    .venv/bin/python bench/read_list.py [--runs 9]

Timed, each on the same open page in the same Chromium (launched once, not timed):
- css: browser.read_list with 4 CSS fields (one evaluate_all round trip for the page);
- mixed: 2 CSS fields + {role: link} + {label: 数量} (Playwright's engines: 1 + 2 round trips);
- loop: what a robot without read_list does, one Playwright call per field per card
  (card.nth(i).locator(...).inner_text()/get_attribute(), 800 calls), timed once.
Prints the median of the runs; every run's rows are checked.
"""

from __future__ import annotations

import argparse
import dataclasses
import http.server
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from libs.context import StepContext
from libs.registry import REGISTRY, load_libraries
from libs.steps.browser.session import session_for

CARDS = 200


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def cards_html() -> str:
    cards = [f'<div class="product-card" data-sku="S{i:03d}"><h3 class="title">商品{i:03d}</h3>'
             f'<span class="price">¥{i},234.50</span><span class="shop">旗舰店{i % 7}</span>'
             f'<a href="/item/S{i:03d}.html">详情</a><input aria-label="数量" value="{i % 5}">'
             "</div>" for i in range(CARDS)]
    return '<!doctype html><html lang=zh><meta charset=utf-8><div id="list">' + \
        "".join(cards) + "</div>"


CSS = {"name": ".title", "price": ".price", "shop": ".shop",
       "link": {"css": "a", "attribute": "href"}}
MIXED = {"name": ".title", "price": ".price", "detail": {"role": "link"},
         "qty": {"label": "数量"}}


def timed(ctx: StepContext, fields: dict[str, Any]) -> float:
    fresh = dataclasses.replace(ctx, timeout=30.0, started=time.monotonic())
    started = time.perf_counter()
    rows = REGISTRY["browser.read_list"].call(fresh, {"items": ".product-card",
                                                      "fields": fields})
    elapsed = time.perf_counter() - started
    assert len(rows) == CARDS and rows[7]["name"] == "商品007" and rows[7]["price"] == "¥7,234.50"
    assert all(v is not None for row in rows for v in row.values()), "a field was not found"
    return elapsed


def loop(ctx: StepContext) -> float:
    page = session_for(ctx).page
    cards = page.locator(".product-card")
    started = time.perf_counter()
    rows = []
    for i in range(cards.count()):
        card = cards.nth(i)
        rows.append({"name": card.locator(".title").inner_text(),
                     "price": card.locator(".price").inner_text(),
                     "shop": card.locator(".shop").inner_text(),
                     "link": card.locator("a").get_attribute("href")})
    elapsed = time.perf_counter() - started
    assert len(rows) == CARDS and rows[7]["link"] == "/item/S007.html"
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=9)
    args = parser.parse_args()
    load_libraries()
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "cards.html").write_text(cards_html(), encoding="utf-8")
        handler = lambda *a: QuietHandler(*a, directory=tmp)  # noqa: E731
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        ctx = StepContext.for_tests(Path(tmp), settings={"browser": {"local_only": True}})
        try:
            REGISTRY["browser.open"].call(
                ctx, {"url": f"http://127.0.0.1:{server.server_port}/cards.html"})
            timed(ctx, CSS)  # warm-up: the first call pays for compiling the script
            css = [timed(ctx, CSS) for _ in range(args.runs)]
            mixed = [timed(ctx, MIXED) for _ in range(args.runs)]
            by_element = loop(ctx)
        finally:
            ctx.resources.close()
            server.shutdown()
    print(f"{CARDS} cards x 4 fields, median of {args.runs}:")
    print(f"  read_list, 4 CSS fields:            {statistics.median(css) * 1000:7.1f} ms")
    print(f"  read_list, 2 CSS + role + label:    {statistics.median(mixed) * 1000:7.1f} ms")
    print(f"  one Playwright call per field/card: {by_element * 1000:7.1f} ms (once)")


if __name__ == "__main__":
    main()
