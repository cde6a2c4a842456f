"""The review page (复核) in real Chromium, driven by the keyboard alone: a reviewer moves
between fields, types a corrected amount and saves it; four-eyes holds (the page offers them no
approval and the console refuses one posted by hand); a second reviewer approves with one key,
and the item is in the next queue with the corrected amount; the next item is accepted and the
list is empty."""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from PIL import Image, ImageDraw, ImageFont
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import select

from orchestrator import people, queue_work, queues, review
from orchestrator.app import create_app
from orchestrator.models import QueueItem
from orchestrator.roles import Role
from orchestrator.settings import Settings
from tests.orchestrator.console.conftest import PASSWORD, sign_in
from tests.servers import ThreadServer

pytestmark = pytest.mark.acceptance
FONT = "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"


@dataclass
class ReviewSite:
    url: str
    sessions: Any
    reviews: dict[str, int]


def crop(text: str) -> str:
    """A field's crop as a scanner would give it: Chinese and figures on paper, in base64."""
    image = Image.new("RGB", (260, 48), "#f4f1e8")
    ImageDraw.Draw(image).text((8, 6), text, fill="#202020",
                               font=ImageFont.truetype(FONT, 28))
    out = io.BytesIO()
    image.save(out, "PNG")
    return base64.b64encode(out.getvalue()).decode()


VOUCHERS = {
    "V-1": ({"account": "6222020200114455", "amount": "1200.00", "payee": "张三"}, [
        {"name": "account", "label": "账号", "kind": "account", "record": "6222020200114455",
         "found": "6222020200114455", "confidence": 0.99, "verdict": "identical",
         "image": crop("6222020200114455")},
        {"name": "amount", "label": "金额", "kind": "amount", "record": "1200.00",
         "found": "1290.00", "confidence": 0.58, "verdict": "different",
         "image": crop("￥1,290.00")},
        {"name": "payee", "label": "收款人", "kind": "name", "record": "张三", "found": "张三",
         "confidence": 0.97, "verdict": "identical", "image": crop("张三")}]),
    "V-2": ({"account": "6222020200116677", "amount": "88.00", "payee": "李四"}, [
        {"name": "payee", "label": "收款人", "kind": "name", "record": "李四", "found": "李 四",
         "confidence": 0.7, "verdict": "unsure", "image": crop("李 四")}]),
}


@pytest.fixture(scope="module")
def review_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ReviewSite]:
    root = tmp_path_factory.mktemp("review")
    app = create_app(Settings(data_dir=root / "data"), services=False)
    made: dict[str, int] = {}
    with app.state.sessions.begin() as session:
        for name in ("alice", "bob"):
            people.create_user(session, name, Role.REVIEWER, PASSWORD)
        queues.create_queue(session, "入账")
        queues.create_queue(session, "凭证核对", review_next="入账")
        queues.add_items(session, "凭证核对", [{"reference": ref, "payload": payload}
                                              for ref, (payload, _) in VOUCHERS.items()])
    for ref, (_, fields) in VOUCHERS.items():  # as the robot's in_review report leaves them
        with app.state.sessions.begin() as session:
            leased = queue_work.lease_item(session, "凭证核对", 1, 30)
            assert leased is not None and leased.reference == ref
            queue_work.report(session, leased.id, 1, "in_review", "金额不一致")
            made[ref] = review.hand_over(session, leased.id, 1,
                                         {"reason": "金额与单据不一致", "fields": fields})
    served = ThreadServer(lifespan="on")
    served.start(app)
    yield ReviewSite(served.url, app.state.sessions, made)
    served.close()


def press(page: Page, *keys: str) -> None:
    for key in keys:
        page.keyboard.press(key)


def focused_field(page: Page) -> str | None:
    value: str | None = page.evaluate(
        "() => document.activeElement.closest('tr.field')?.dataset.field ?? null")
    return value


def test_four_eyes_by_keyboard_alone(review_site: ReviewSite, browser: Browser) -> None:
    v1, v2 = review_site.reviews["V-1"], review_site.reviews["V-2"]
    alice = browser.new_context(locale="zh-CN", viewport={"width": 1360, "height": 900})
    alice.set_default_timeout(10_000)
    page = alice.new_page()
    sign_in(page, review_site, "alice", then="/console/reviews")  # type: ignore[arg-type]
    expect(page.locator("header nav a[href='/console/reviews']")).to_have_text("复核")
    expect(page.locator("#reviews tbody tr")).to_have_count(2)
    expect(page.locator("#review-queues [data-queue='凭证核对'] .figure")).to_have_text("2")
    page.goto(f"{review_site.url}/console/queues/凭证核对?state=in_review")
    expect(page.locator("#items .to-review")).to_have_count(2)
    page.goto(f"{review_site.url}/console/reviews/{v1}")
    expect(page.locator("#shortcuts")).to_contain_text("下一个字段")
    rows = page.locator("#fields tr.field")
    expect(rows).to_have_count(3)
    expect(rows.nth(1).locator(".verdict")).to_have_text("不一致")
    expect(rows.nth(1).locator(".record")).to_have_text("1200.00")
    expect(rows.nth(1).locator(".found")).to_have_text("1290.00")
    expect(rows.nth(1).locator(".confidence")).to_have_text("58%")
    assert page.evaluate("() => [...document.querySelectorAll('#fields img')]"
                         ".every(i => i.complete && i.naturalWidth === 260)")
    # the keyboard: the first field has the focus, j / ↓ / k move, and the focus shows
    assert focused_field(page) == "account"
    press(page, "j", "ArrowDown")
    assert focused_field(page) == "payee"
    press(page, "k")
    assert focused_field(page) == "amount"
    assert page.evaluate("() => getComputedStyle(document.activeElement).outlineStyle") == \
        "solid"
    # c: type the corrected amount; Enter saves it — a change to an amount: four-eyes
    press(page, "c")
    page.keyboard.type("1290.00")
    press(page, "Enter")
    expect(page.locator("#notice")).to_have_text("已保存：该修改需由另一位复核员批准。")
    expect(page.locator("#review-state")).to_have_text("待二次复核")
    expect(page.locator("#four-eyes li")).to_have_text("alice 将金额由 1200.00 改为 1290.00")
    expect(page.locator("#own-change")).to_have_text("此修改由您做出，须由另一位复核员批准。")
    expect(page.locator("#approve")).to_have_count(0)
    press(page, "y")  # nothing to press: the page stays as it is
    expect(page.locator("#review-state")).to_have_text("待二次复核")
    posted = page.evaluate(
        """async (path) => {
             const body = new URLSearchParams();
             body.set("csrf", document.querySelector("input[name=csrf]").value);
             const answer = await fetch(path, {method: "POST", body, redirect: "manual"});
             return [answer.status, await answer.text()];
           }""", f"/console/reviews/{v1}/approve")
    assert posted[0] == 403 and "second, different reviewer" in posted[1]
    with review_site.sessions.begin() as session:
        assert session.scalar(select(QueueItem).where(QueueItem.queue == "入账")) is None
    alice.close()

    bob = browser.new_context(locale="zh-CN", viewport={"width": 1360, "height": 900})
    bob.set_default_timeout(10_000)
    page = bob.new_page()
    sign_in(page, review_site, "bob", then=f"/console/reviews/{v1}")  # type: ignore[arg-type]
    expect(page.locator("#four-eyes li")).to_have_text("alice 将金额由 1200.00 改为 1290.00")
    expect(page.locator("#own-change")).to_have_count(0)
    press(page, "y")  # approved: on to the next item of the queue
    page.wait_for_url(f"**/console/reviews/{v2}?notice=*")
    expect(page.locator("#notice")).to_have_text("已处理：V-1:approved")
    with review_site.sessions.begin() as session:
        items = {(i.queue, i.reference): (i.state, i.payload)
                 for i in session.scalars(select(QueueItem))}
    state, payload = items[("入账", "V-1")]
    assert (state, payload["amount"], payload["payee"]) == ("new", "1290.00", "张三")
    assert (payload["review"]["decided_by"], payload["review"]["approved_by"]) == ("alice",
                                                                                  "bob")
    assert items[("凭证核对", "V-1")][0] == "reviewed"
    # the next one: a name the robot was unsure of; a accepts the system's value (one reviewer)
    expect(page.locator("#fields tr.field .verdict")).to_have_text("不确定")
    press(page, "a")
    page.wait_for_url("**/console/reviews?queue=*")
    expect(page.locator("#reviews tbody")).to_contain_text("暂无待复核事项。")
    page.goto(f"{review_site.url}/console/reviews/{v1}")
    expect(page.locator("#decided")).to_contain_text("复核人：alice · 第二复核人：bob")
    with review_site.sessions.begin() as session:
        second = review.get(session, v2)
        assert (second.state, second.decided_by) == ("approved", "bob")
        assert second.review_seconds >= 0 and second.opened.keys() == {"bob"}
        first = review.get(session, v1)
        assert first.opened.keys() == {"alice", "bob"}
    bob.close()


def test_reject_by_keyboard_with_a_reason(review_site: ReviewSite, browser: Browser) -> None:
    with review_site.sessions.begin() as session:
        queues.add_items(session, "凭证核对", [{"reference": "V-9", "payload": {}}])
        leased = queue_work.lease_item(session, "凭证核对", 2, 30)
        assert leased is not None
        queue_work.report(session, leased.id, 2, "in_review", "")
        made = review.hand_over(session, leased.id, 2, {"reason": "印章不清", "fields": [
            {"name": "date", "label": "日期", "kind": "date", "record": "2026-12-01",
             "found": "2026-12-07", "confidence": 0.4, "verdict": "unsure"}]})
    context = browser.new_context(locale="zh-CN")
    context.set_default_timeout(10_000)
    page = context.new_page()
    sign_in(page, review_site, "alice", then=f"/console/reviews/{made}")  # type: ignore[arg-type]
    expect(page.locator("#reason")).to_contain_text("印章不清")
    press(page, "r")
    page.keyboard.type("凭证日期涂改，退回网点")
    press(page, "Enter")
    page.wait_for_url("**/console/reviews?queue=*")
    with review_site.sessions.begin() as session:
        item = session.get(QueueItem, leased.id)
        assert item is not None and item.state == "business_exception"
        assert item.message == "rejected in review by alice: 凭证日期涂改，退回网点"
    context.close()

