"""The demo systems' pages in real Chromium: the JS pieces a robot must cope with."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from workhand.demo import DemoSystems, start
from workhand.demo.seed import USERS

pytestmark = pytest.mark.acceptance

STAY_LOCAL = "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1 , EXCLUDE localhost"


@pytest.fixture(scope="module")
def demo() -> Iterator[DemoSystems]:
    with start() as running:
        yield running


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path="/usr/bin/chromium", args=[STAY_LOCAL])
        yield b
        b.close()


@pytest.fixture
def page(demo: DemoSystems, browser: Browser) -> Iterator[Page]:
    demo.reset()
    context = browser.new_context(accept_downloads=True)
    context.set_default_timeout(5000)
    yield context.new_page()
    context.close()


def login(page: Page, url: str, system: str, user_label: str = "用户名") -> None:
    page.goto(url)
    page.get_by_label(user_label).fill(USERS[system][0])
    page.get_by_label("密码").fill(USERS[system][1])
    page.get_by_role("button", name="登录").click()


def test_payment_stop_happens_only_when_confirmed(demo: DemoSystems, page: Page) -> None:
    number = "079201880000100103"
    login(page, f"{demo.base_url}/accounts/account/{number}", "accounts")
    questions: list[str] = []

    def answer(accept: bool) -> None:
        page.once("dialog", lambda d: (questions.append(d.message),
                                       d.accept() if accept else d.dismiss()))

    answer(False)
    page.get_by_role("button", name="止付").click()
    page.wait_for_timeout(300)  # a dismissed confirm leaves no page change to wait for
    assert page.locator(".inspection-status").inner_text() == "待年检"
    page.get_by_label("止付原因").fill("企业已注销")
    answer(True)
    page.get_by_role("button", name="止付").click()
    page.locator(".flash").wait_for()
    assert page.locator(".inspection-status").inner_text() == "已止付"
    assert questions == [f"确认对账户 {number} 止付？"] * 2
    rec = next(a for a in demo.state()["accounts"] if a["number"] == number)
    assert rec["stopped"] and rec["stop_reason"] == "企业已注销"
    assert len(rec["actions"]) == 1  # the dismissed attempt never reached the server


def test_registry_results_arrive_late_with_paging(demo: DemoSystems, page: Page) -> None:
    page.goto(f"{demo.base_url}/registry/")
    page.get_by_label("企业名称").fill("江西赣江物流有限公司")
    page.get_by_role("button", name="查询").click()
    assert page.locator(".loading").is_visible()
    first = page.locator(".result").first
    assert first.locator(".status").inner_text() == "存续"
    assert page.locator(".result").count() == 5
    page.get_by_role("link", name="下一页").click()
    page.locator(".result").first.wait_for()
    assert page.locator(".result").count() == 2
    listed = page.locator(".result").last
    name, status = listed.locator(".name").inner_text(), listed.locator(".status").inner_text()
    page.get_by_role("link", name=name, exact=True).click()
    assert page.locator(".company-name").inner_text() == name
    assert page.locator(".status").inner_text() == status


def test_imaging_notice_blocks_the_page_until_closed(demo: DemoSystems, page: Page) -> None:
    login(page, f"{demo.base_url}/imaging/", "imaging", "柜员号")
    page.get_by_label("账号").fill("079201880000200202")
    with pytest.raises(Exception, match="intercepts pointer events"):
        page.get_by_role("button", name="查询").click(timeout=1000)
    page.get_by_role("button", name="我知道了").click()
    page.get_by_role("button", name="查询").click()
    assert page.locator(".filing-status").inner_text() == "未上报"


def test_clearing_report_is_generated_then_downloaded(demo: DemoSystems, page: Page) -> None:
    login(page, f"{demo.base_url}/clearing/", "clearing")
    page.get_by_label("报表类型").select_option(label="清算明细表")
    page.get_by_role("button", name="生成报表").click()
    with page.expect_download() as info:
        page.get_by_text("下载报表").click()
    day = demo.state()["today"].replace("-", "")
    assert info.value.suggested_filename == f"清算明细_{day}.xlsx"


def test_change_list_download_keeps_its_chinese_name(demo: DemoSystems, page: Page) -> None:
    login(page, f"{demo.base_url}/accounts/changes", "accounts")
    with page.expect_download() as info:
        page.get_by_text("导出CSV").click()
    assert info.value.suggested_filename.startswith("账户变动清单_")
