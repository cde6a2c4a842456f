"""browser.read_list and browser.read_table's ARIA grids, against real Chromium."""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from libs.checker import check_file
from libs.context import StepContext
from libs.errors import RobotFileError, StepArgumentError, SystemFailure
from libs.registry import REGISTRY
from tests.libs.steps import test_browser

# The browser module's fixtures: one served folder of pages, one Chromium for this module.
site, base, make_ctx, ctx = (test_browser.site, test_browser.base, test_browser.make_ctx,
                             test_browser.ctx)
run = test_browser.run

CARDS = {"items": {"css": ".product-card"},
         "fields": {"name": {"css": ".title"}, "price": {"css": ".price"},
                    "link": {"css": "a", "attribute": "href"}}}
PAGE_1 = [
    {"name": "华为 Mate 60 手机", "price": "¥1,234.50", "link": "/item/A001.html"},
    {"name": "小米 空气净化器", "price": "¥899.00", "link": "/item/A002.html"},
    {"name": "联想 笔记本电脑", "price": "¥5,999.00", "link": "/item/A003.html"},
]
PAGE_2 = [
    {"name": "格力 空调 1.5匹", "price": "¥2,499.00", "link": "/item/B001.html"},
    {"name": "海尔 冰箱（预售）", "price": None, "link": "/item/B002.html"},  # no price shown
]


def test_read_list_reads_each_card_into_a_row(ctx: StepContext, site: str) -> None:
    run(ctx, "browser.open", {"url": f"{site}/cards.html"})
    assert run(ctx, "browser.read_list", CARDS) == PAGE_1


def test_read_list_over_two_pages_a_missing_price_is_null(ctx: StepContext, site: str) -> None:
    run(ctx, "browser.open", {"url": f"{site}/cards.html"})
    rows = run(ctx, "browser.read_list",
               {**CARDS, "next_page": {"role": "link", "name": "下一页"}})
    assert rows == PAGE_1 + PAGE_2
    # the last page is shown, its next-page link greyed out
    assert run(ctx, "browser.read_text", {"target": ".product-card .title", "all": True}) == \
        ["格力 空调 1.5匹", "海尔 冰箱（预售）"]


def test_read_list_stops_at_max_pages(ctx: StepContext, site: str) -> None:
    run(ctx, "browser.open", {"url": f"{site}/cards.html"})
    rows = run(ctx, "browser.read_list", {**CARDS, "next_page": "#next", "max_pages": 1})
    assert rows == PAGE_1


def test_read_list_across_server_side_pages(ctx: StepContext, site: str) -> None:
    run(ctx, "browser.open", {"url": f"{site}/shop-1.html"})
    rows = run(ctx, "browser.read_list", {"items": ".goods .item",
                                          "fields": {"品名": "b", "价格": "i"},
                                          "next_page": {"role": "link", "name": "下一页"}})
    assert rows == [{"品名": "保温杯", "价格": "¥88.00"}, {"品名": "雨伞", "价格": "¥45.50"},
                    {"品名": "台灯", "价格": "¥1,099.00"}]
    assert run(ctx, "browser.evaluate", {"script": "document.title"}) == "店铺商品 第2页"


def test_a_load_more_button_adds_only_the_new_blocks(ctx: StepContext, site: str) -> None:
    run(ctx, "browser.open", {"url": f"{site}/feed.html"})
    rows = run(ctx, "browser.read_list", {"items": ".fund",
                                          "fields": {"产品": ".name", "利率": ".rate"},
                                          "next_page": {"role": "button", "name": "加载更多"}})
    assert rows == [{"产品": "稳健一号", "利率": "3.10%"}, {"产品": "稳健二号", "利率": "3.25%"},
                    {"产品": "成长一号", "利率": "4.80%"}, {"产品": "成长二号", "利率": "5.05%"},
                    {"产品": "现金宝", "利率": "1.95%"}]
    assert run(ctx, "browser.evaluate", {"script": "shown"}) == 5  # the button is hidden now


def test_a_next_page_that_changes_nothing_fails_within_the_timeout(
        make_ctx: Callable[..., StepContext], site: str) -> None:
    run(make_ctx(), "browser.open", {"url": f"{site}/cards.html"})
    with pytest.raises(SystemFailure) as caught:
        run(make_ctx(timeout=1.0), "browser.read_list", {**CARDS, "next_page": "h1"})
    assert str(caught.value) == (
        "browser.read_list: the items {css: .product-card} did not change within 1s after "
        f"clicking 'h1' for page 2 on {site}/cards.html; if that was the last page, the "
        "next-page control should be hidden or disabled there; if the system is slow, raise "
        "the step's timeout")


def test_fields_of_every_kind_nth_and_the_blocks_own_attribute(ctx: StepContext,
                                                               site: str) -> None:
    run(ctx, "browser.open", {"url": f"{site}/cards.html"})
    rows = run(ctx, "browser.read_list", {"items": ".product-card", "fields": {
        "sku": {"attribute": "data-sku"},              # the block itself
        "name": ".title",                               # a plain CSS string
        "was": {"css": ".price", "nth": 1},             # the second price, where there is one
        "last": {"xpath": "//span[contains(@class, 'price')]", "nth": -1},
        "detail": {"role": "link"},                     # Playwright's engines, over all blocks
        "hint": {"role": "link", "name": "详情", "attribute": "title"},
        "qty": {"label": "数量"},                        # an input: its value
        "hot": {"text": "热卖", "exact": True},
        "new": "span:has-text('新')",                   # Playwright-only CSS
        "tag": "text=新品",
        "nothing": {"css": ".no-such-thing", "attribute": "title"},
        "stock": {"test_id": "stock"},
        "image": {"alt": "图片", "attribute": "alt"},
        "page": {"title": "查看", "attribute": "href"},
        "old": {"css": "span", "has_text": "1,500"},
    }})
    assert [r["sku"] for r in rows] == ["A001", "A002", "A003"]
    assert rows[0] == {"sku": "A001", "name": "华为 Mate 60 手机", "was": "¥1,500.00",
                       "last": "¥1,500.00", "detail": "详情", "hint": "查看华为 Mate 60 手机",
                       "qty": "1", "hot": "热卖", "new": None, "tag": None, "nothing": None,
                       "stock": "有货", "image": "华为 Mate 60 手机 图片",
                       "page": "/item/A001.html", "old": "¥1,500.00"}
    assert rows[1] == {"sku": "A002", "name": "小米 空气净化器", "was": None, "last": "¥899.00",
                       "detail": "详情", "hint": "查看小米 空气净化器", "qty": "1", "hot": None,
                       "new": None, "tag": None, "nothing": None, "stock": "有货",
                       "image": "小米 空气净化器 图片", "page": "/item/A002.html", "old": None}
    assert (rows[2]["hot"], rows[2]["new"], rows[2]["tag"]) == (None, "新品", "新品")


def test_one_item_by_nth(ctx: StepContext, site: str) -> None:
    run(ctx, "browser.open", {"url": f"{site}/cards.html"})
    one = run(ctx, "browser.read_list", {"items": {"css": ".product-card", "nth": 1},
                                         "fields": {"name": ".title", "link": {"role": "link"}}})
    assert one == [{"name": "小米 空气净化器", "link": "详情"}]


def test_fields_inside_a_web_components_shadow_root(ctx: StepContext, site: str) -> None:
    run(ctx, "browser.open", {"url": f"{site}/cards.html"})
    rows = run(ctx, "browser.read_list", {"items": "featured-card", "fields": {
        **CARDS["fields"], "detail": {"role": "link"}, "sku": {"attribute": "data-sku"}}})
    assert rows == [{"name": "今日特价 电饭煲", "price": "¥199.00", "link": "/item/F001.html",
                     "detail": "详情", "sku": "F001"}]


def test_no_item_at_all_fails_after_the_timeout_naming_the_target_and_page(
        make_ctx: Callable[..., StepContext], site: str) -> None:
    run(make_ctx(), "browser.open", {"url": f"{site}/cards.html"})
    with pytest.raises(SystemFailure) as caught:
        run(make_ctx(timeout=0.5), "browser.read_list",
            {"items": {"css": ".product-tile"}, "fields": {"name": ".title"}})
    assert str(caught.value) == (
        "browser.read_list: no element matches the items target {css: .product-tile} on "
        f"{site}/cards.html after 500ms; check the target (the page may show the list under "
        "another name, or an empty list)")


def test_cards_that_arrive_late_are_waited_for(make_ctx: Callable[..., StepContext],
                                               site: str) -> None:
    ctx = make_ctx()
    run(ctx, "browser.open", {"url": f"{site}/cards.html"})
    run(ctx, "browser.evaluate", {"script": "go(2)"})  # the list shows 加载中… for 300ms
    assert run(make_ctx(timeout=5.0), "browser.read_list", CARDS) == PAGE_2


def test_wrong_fields_are_reported_by_the_checker_before_anything_runs(
        robot_file: Callable[..., Path]) -> None:
    path = robot_file("""
        robot: wrong-fields
        steps:
          - browser.read_list: {items: .card, fields: {}}
          - browser.read_list: {items: .card, fields: .title}
          - browser.read_list: {items: .card, fields: {price: 3}}
          - browser.read_list: {items: .card, fields: {name: " "}}
          - browser.read_list: {items: .card, fields: {link: {css: a, attribut: href}}}
          - browser.read_list: {items: .card, fields: {price: {css: .price, xpath: //span}}}
          - browser.read_list: {items: .card, fields: {sku: {nth: 1}}}
          - browser.read_list: {items: .card, fields: {name: {css: .title, frame: "#inner"}}}
          - browser.read_list: {items: .card, fields: {name: {css: .title, name: 标题}}}
          - browser.read_list: {items: .card, fields: {link: {role: lnk}}}
          - browser.read_list: {items: .card, fields: {n: {css: .n, nth: first}}}
          - browser.read_list: {items: .card, fields: {price: 价格}}
          - browser.read_list: {items: .card, fields: {price: {right_of: 单价}}}
        """, "r.yaml")
    with pytest.raises(RobotFileError) as caught:
        check_file(path, shown_as="r.yaml")
    arg = "argument 'fields' of 'browser.read_list'"
    assert [str(p) for p in caught.value.problems] == [
        f"r.yaml:3:47: {arg}: no field is named; name at least one, e.g. "
        "{name: .title, price: .price}",
        f"r.yaml:4:47: {arg}: expected a map from each row key to where its value is inside "
        "the block, e.g. {name: .title, price: .price}",
        f"r.yaml:5:47: {arg}: the field 'price' is 3; write a selector inside the block such as "
        "'.price' or a map such as {css: a, attribute: href}",
        f"r.yaml:6:47: {arg}: the field 'name' is empty; write a selector inside the block such "
        "as '.price' or a map such as {css: a, attribute: href}",
        f"r.yaml:7:47: {arg}: the field 'link' cannot have 'attribut'; did you mean "
        "'attribute'? a field map uses one way to find it (role, label, text, placeholder, "
        "test_id, alt, title, css, xpath), plus attribute, nth, exact, has_text, inside",
        f"r.yaml:8:47: {arg}: the field 'price': a target names one way to find it, but this "
        "one has css, xpath; keep one of them (use inside: to look within another element)",
        f"r.yaml:9:47: {arg}: the field 'sku': it names no element and no attribute; write e.g. "
        "{css: .price}, or {attribute: data-id} to read the block's own attribute",
        f"r.yaml:10:47: {arg}: the field 'name': 'frame' is not for a field: a field is looked "
        "for inside each block; put frame on items instead",
        f"r.yaml:11:47: {arg}: the field 'name': 'name' goes with 'role' only; write "
        "{role: button, name: 登录}, or drop 'name'",
        f"r.yaml:12:47: {arg}: the field 'link': 'lnk' is not an ARIA role; did you mean "
        "'link'?",
        f"r.yaml:13:47: {arg}: the field 'n': 'nth': Input should be a valid integer, unable to "
        "parse string as an integer",
        f"r.yaml:14:47: {arg}: the field 'price': '价格' is not a selector: a plain text target "
        "is read as CSS ('价格' is not an HTML element); for text on the page write "
        "{text: 价格}, for the field it labels {label: 价格}, for a button "
        "{role: button, name: 价格}",
        f"r.yaml:15:47: {arg}: the field 'price': 'right_of' is not for a field: a place beside "
        "a text is looked for on the whole page, not in each block; find the field inside the "
        "block by css, role or text instead",
    ]


def test_a_selector_only_the_browser_finds_wrong_names_the_field(ctx: StepContext,
                                                                 site: str) -> None:
    run(ctx, "browser.open", {"url": f"{site}/cards.html"})
    with pytest.raises(StepArgumentError) as caught:
        run(ctx, "browser.read_list", {"items": ".product-card", "fields": {"name": "a:::b"}})
    assert str(caught.value).startswith(
        "browser.read_list: 'a:::b' is not a valid selector (Unexpected token \":\" while "
        "parsing css selector \"a:::b\"")


def test_read_table_reads_a_div_grid_over_pages(ctx: StepContext, site: str) -> None:
    run(ctx, "browser.open", {"url": f"{site}/grid.html"})
    first = run(ctx, "browser.read_table")  # the default target finds ARIA grids too
    assert first == [
        {"订单号": "D20261201", "客户": "甲公司", "金额": "¥12,000.00", "列4": "查看"},
        {"订单号": "D20261202", "客户": "乙公司", "金额": "¥3,450.50", "列4": "查看"},
    ]
    rows = run(ctx, "browser.read_table",
               {"target": {"role": "grid", "name": "订单"},
                "next_page": {"role": "button", "name": "下一页"}})
    assert [r["订单号"] for r in rows] == ["D20261201", "D20261202", "D20261203", "D20261204"]
    assert rows[-1] == {"订单号": "D20261204", "客户": "丁公司", "金额": "¥99.90", "列4": "查看"}
    assert run(ctx, "browser.evaluate", {"script": "page"}) == 2


def test_read_table_reads_a_div_table_in_document_order(ctx: StepContext, site: str) -> None:
    run(ctx, "browser.open", {"url": f"{site}/aria-table.html"})
    rows = run(ctx, "browser.read_table", {"target": "#accounts"})
    # rowheaders are values; the nested table's row is not a row of this one; the closing
    # message row spans the table (aria-colspan) and is left out
    assert rows == [{"户名": "张三", "余额": "¥1,000.00"},
                    {"户名": "李四", "余额": "¥2,500.00\n嵌套"}]


def test_read_table_still_refuses_what_holds_no_table(ctx: StepContext, site: str) -> None:
    run(ctx, "browser.open", {"url": f"{site}/cards.html"})
    with pytest.raises(StepArgumentError) as caught:
        run(ctx, "browser.read_table", {"target": "#list"})
    assert str(caught.value) == (
        "browser.read_table: '#list' is not a table and holds none; point the target at a "
        "<table>, e.g. '#result table', or at a [role=table] / [role=grid] element")


def test_a_robot_reads_the_cards_and_writes_them_to_csv_and_excel(
        run_robot: Callable[..., Any], tmp_path: Path, ctx: StepContext, site: str) -> None:
    run(ctx, "browser.close")  # one Playwright per thread: the robot's run starts its own
    result, _ = run_robot(f"""
        robot: shop-prices
        settings:
          browser: {{local_only: true}}
        steps:
          - browser.open: {site}/cards.html
          - browser.read_list:
              items: {{css: .product-card}}
              fields:
                名称: {{css: .title}}
                价格: {{css: .price}}
                链接: {{css: a, attribute: href}}
              next_page: {{role: link, name: 下一页}}
              max_pages: 10
              into: products
          - csv.write_rows: {{path: 商品.csv, rows: "${{products}}"}}
          - excel.write_rows: {{path: 商品.xlsx, rows: "${{products}}", sheet: 商品}}
          - output: {{name: count, value: "${{len(products)}}"}}
        """)
    assert result.status == "passed", result.error and result.error["message"]
    assert result.outputs == {"count": 5}
    out = tmp_path / "out"
    with (out / "商品.csv").open(encoding="utf-8-sig", newline="") as file:
        lines = list(csv.reader(file))
    assert lines == [["名称", "价格", "链接"],
                     *([r["name"], r["price"] or "", r["link"]] for r in PAGE_1 + PAGE_2)]
    sheet = openpyxl.load_workbook(out / "商品.xlsx")["商品"]
    cells = [[c.value for c in row] for row in sheet.iter_rows()]
    assert cells[0] == ["名称", "价格", "链接"]
    assert cells[1] == ["华为 Mate 60 手机", "¥1,234.50", "/item/A001.html"]
    assert cells[5] == ["海尔 冰箱（预售）", None, "/item/B002.html"]
    assert len(cells) == 6


def test_read_list_signature() -> None:
    assert list(REGISTRY["browser.read_list"].params) == ["items", "fields", "next_page",
                                                          "max_pages"]
    assert REGISTRY["browser.read_list"].returns
