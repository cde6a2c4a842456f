"""The browser library against real Chromium and small pages served from 127.0.0.1."""

from __future__ import annotations

import dataclasses
import http.server
import time
import urllib.parse
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from libs.context import StepContext
from libs.errors import StepArgumentError, SystemFailure
from libs.policy import Refused
from libs.registry import REGISTRY
from libs.secrets import Secret
from libs.steps import browser  # noqa: F401 - registers the browser steps
from libs.steps.browser.session import BrowserSession
from tests.servers import Port, static_site

PAGES = Path(__file__).parent / "pages"
STATEMENT = "户名,金额\n张三,100.00\n李四,200.00\n"


class Handler(http.server.SimpleHTTPRequestHandler):
    """Static pages, plus two downloads with Chinese file names and GBK content."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, directory=str(PAGES), **kwargs)

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        if self.path == "/export/statement":  # RFC 6266 form, as modern systems send it
            self._send_csv("attachment; filename*=UTF-8''" + urllib.parse.quote("对账单.csv"))
        elif self.path == "/export/utf8-header":  # raw UTF-8 bytes in the header
            self._send_csv('attachment; filename="交易明细.csv"'.encode().decode("latin-1"))
        else:
            super().do_GET()

    def _send_csv(self, disposition: str) -> None:
        body = STATEMENT.encode("gbk")
        self.send_response(200)
        self.send_header("Content-Type", "text/csv; charset=GBK")
        self.send_header("Content-Disposition", disposition)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture(scope="module")
def site() -> Iterator[str]:
    with static_site(handler=Handler) as url:
        yield url


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StepContext]:
    """One run (one browser) for the whole module; every test gets a fresh step budget."""
    ctx = StepContext.for_tests(tmp_path_factory.mktemp("browser"),
                                settings={"browser": {"local_only": True}})
    yield ctx
    ctx.resources.close()


@pytest.fixture
def make_ctx(base: StepContext) -> Callable[..., StepContext]:
    def make(timeout: float = 10.0) -> StepContext:
        return dataclasses.replace(base, timeout=timeout, started=time.monotonic())
    return make


@pytest.fixture
def ctx(make_ctx: Callable[..., StepContext]) -> StepContext:
    return make_ctx()


def run(ctx: StepContext, name: str, args: dict[str, Any] | None = None) -> Any:
    return REGISTRY[name].call(ctx, args or {})


def session(ctx: StepContext) -> BrowserSession:
    found = ctx.resources.peek("browser")
    assert isinstance(found, BrowserSession)
    return found


def test_fill_select_check_click_and_read_back_in_chinese(ctx: StepContext, site: str) -> None:
    run(ctx, "browser.open", {"url": f"{site}/form.html"})
    run(ctx, "browser.fill", {"target": {"label": "户名"}, "text": "张三丰"})
    run(ctx, "browser.fill", {"target": {"placeholder": "请输入账号"}, "text": 6217000012345678})
    run(ctx, "browser.select", {"target": {"label": "币种"}, "option": "美元"})
    run(ctx, "browser.check", {"target": {"role": "checkbox", "name": "同意条款"}})
    run(ctx, "browser.click", {"target": {"role": "button", "name": "提交"}})

    assert run(ctx, "browser.read_text", {"target": "#result"}) == \
        "户名=张三丰;账号=6217000012345678;币种=USD;同意=true"
    assert run(ctx, "browser.read_text", {"target": {"label": "户名"}}) == "张三丰"
    assert run(ctx, "browser.read_text", {"target": "#currency"}) == "美元"

    run(ctx, "browser.uncheck", {"target": "#agree"})
    run(ctx, "browser.select", {"target": "#currency", "option": "CNY"})
    run(ctx, "browser.press", {"key": "Enter", "target": {"label": "户名"}})
    assert run(ctx, "browser.read_text", {"target": "#result"}).endswith("币种=CNY;同意=false")


def test_css_xpath_text_and_selector_targets(ctx: StepContext, site: str) -> None:
    run(ctx, "browser.open", {"url": f"{site}/form.html", "wait_until": "domcontentloaded"})
    run(ctx, "browser.fill", {"target": {"css": ".memo-field"}, "text": "备注一"})
    assert run(ctx, "browser.read_text", {"target": {"xpath": "//input[@data-id='m1']"}}) == \
        "备注一"
    assert run(ctx, "browser.read_attribute",
               {"target": {"css": ".memo-field"}, "name": "data-id"}) == "m1"
    assert run(ctx, "browser.read_attribute", {"target": "#memo", "name": "title"}) is None
    assert run(ctx, "browser.read_text", {"target": {"text": "开户登记"}}) == "开户登记"
    assert run(ctx, "browser.read_text", {"target": "role=heading[name=开户登记]"}) == "开户登记"

    run(ctx, "browser.type", {"target": {"label": "备注"}, "text": "你好", "delay": "10ms"})
    run(ctx, "browser.type", {"target": {"label": "备注"}, "text": "，世界"})
    assert run(ctx, "browser.read_text", {"target": "#note"}) == "你好，世界"
    run(ctx, "browser.press", {"key": "Control+A"})
    run(ctx, "browser.press", {"key": "Backspace"})
    assert run(ctx, "browser.read_text", {"target": "#note"}) == ""

    run(ctx, "browser.click", {"target": {"role": "button", "name": "登录"}})
    assert run(ctx, "browser.read_text", {"target": "#who"}) == "已登录"
    run(ctx, "browser.hover", {"target": {"role": "link", "name": "登录"}})
    assert run(ctx, "browser.read_text", {"target": "button", "all": True}) == \
        ["提交", "审批", "登录"]
    assert run(ctx, "browser.read_text", {"target": ".nothing-here", "all": True}) == []


def test_a_secret_is_filled_only_into_a_page_of_its_credentials_hosts(ctx: StepContext,
                                                                       site: str) -> None:
    run(ctx, "browser.open", {"url": f"{site}/form.html"})
    field = {"label": "户名"}
    foreign = Secret("Bound-Secret-42", "credentials.bank.password", ["ebank.bank.cn"])
    for name in ("browser.fill", "browser.type"):
        with pytest.raises(Refused, match=r"^the secret 'credentials\.bank\.password' may only "
                                          r"be sent to ebank\.bank\.cn; this step would send it "
                                          r"to 127\.0\.0\.1 — ask an admin"):
            run(ctx, name, {"target": field, "text": foreign})
    page = ctx.resources.peek("browser").page  # the test reads the field; a robot may not
    assert page.input_value("#name") == ""
    own = Secret("Bound-Secret-42", "credentials.bank.password", ["127.0.0.1"])
    run(ctx, "browser.fill", {"target": field, "text": own})
    assert page.input_value("#name") == "Bound-Secret-42"
    # a page given a secret runs no robot script: it could read the field back disguised
    with pytest.raises(Refused, match="was typed into this browser"):
        run(ctx, "browser.evaluate", {"script": "document.querySelector('#name').value"})
    run(ctx, "browser.close", {})
    assert run(ctx, "browser.evaluate", {"script": "1 + 1"}) == 2  # a fresh browser may


def test_target_inside_an_iframe(ctx: StepContext, site: str) -> None:
    run(ctx, "browser.open", {"url": f"{site}/frame.html"})
    inner = {"frame": "#inner"}
    run(ctx, "browser.fill", {"target": {"label": "户名", **inner}, "text": "李四"})
    run(ctx, "browser.click", {"target": {"role": "button", "name": "提交", **inner}})
    assert run(ctx, "browser.read_text", {"target": {"css": "#result", **inner}}).startswith(
        "户名=李四;")


def test_read_table_over_several_pages(ctx: StepContext, site: str) -> None:
    run(ctx, "browser.open", {"url": f"{site}/table.html"})
    first = run(ctx, "browser.read_table", {"target": "#trades"})
    assert first[0] == {"户名": "张三", "账号": "6217000000000001", "金额": "100.00", "列4": "查看"}
    assert len(first) == 3  # the tfoot total row is not data

    rows = run(ctx, "browser.read_table",
               {"target": "#trades", "next_page": {"role": "button", "name": "下一页"}})
    assert [r["户名"] for r in rows] == ["张三", "李四", "王五", "赵六", "钱七", "孙八", "周九"]
    assert rows[-1]["金额"] == "700.00"


def test_read_table_stops_at_max_pages(ctx: StepContext, site: str) -> None:
    run(ctx, "browser.open", {"url": f"{site}/table.html"})
    rows = run(ctx, "browser.read_table", {"next_page": "#next", "max_pages": 2})
    assert [r["户名"] for r in rows] == ["张三", "李四", "王五", "赵六", "钱七", "孙八"]


def test_read_table_across_server_side_pages(ctx: StepContext, site: str) -> None:
    run(ctx, "browser.open", {"url": f"{site}/ledger-1.html"})
    rows = run(ctx, "browser.read_table",
               {"target": "#result", "next_page": {"role": "link", "name": "下一页"}})
    assert rows == [{"企业名称": "甲公司", "登记状态": "存续"},
                    {"企业名称": "乙公司", "登记状态": "注销"},
                    {"企业名称": "丙公司", "登记状态": "吊销"}]


def test_download_keeps_the_chinese_file_name_and_gbk_bytes(ctx: StepContext, site: str) -> None:
    run(ctx, "browser.open", {"url": f"{site}/files.html"})
    saved = Path(run(ctx, "browser.download", {"target": {"text": "下载对账单"}}))
    assert saved.is_absolute()
    assert saved.parent.name == "downloads"
    assert saved.name == "对账单.csv"
    assert saved.read_bytes().decode("gbk") == STATEMENT
    assert any(a.kind == "download" and a.path == str(saved) for a in ctx.state.artifacts)

    again = Path(run(ctx, "browser.download", {"target": {"text": "下载对账单"}}))
    assert again.name == "对账单 (1).csv"
    assert saved.exists()

    raw = Path(run(ctx, "browser.download", {"target": {"text": "下载明细"}}))
    assert raw.name == "交易明细.csv"

    chosen = Path(run(ctx, "browser.download",
                      {"target": {"text": "下载对账单"}, "save_as": "对账/今日.csv"}))
    assert chosen == (ctx.output_dir / "对账" / "今日.csv").resolve()
    assert chosen.read_bytes() == STATEMENT.encode("gbk")


def test_upload_into_a_file_field_and_through_a_chooser_button(
        ctx: StepContext, site: str) -> None:
    (ctx.robot_dir / "凭证.txt").write_text("影像", encoding="utf-8")
    (ctx.robot_dir / "b.txt").write_text("b", encoding="utf-8")
    run(ctx, "browser.open", {"url": f"{site}/files.html"})
    run(ctx, "browser.upload", {"target": {"label": "附件"}, "files": ["凭证.txt", "b.txt"]})
    assert run(ctx, "browser.read_text", {"target": "#chosen"}) == "凭证.txt:6,b.txt:1"

    run(ctx, "browser.upload", {"target": {"role": "button", "name": "选择文件"},
                                "files": "b.txt"})
    assert run(ctx, "browser.read_text", {"target": "#chosen"}) == "b.txt:1"

    with pytest.raises(StepArgumentError, match=r"no such file: .*缺失.txt"):
        run(ctx, "browser.upload", {"target": "#file", "files": "缺失.txt"})


def test_dialogs_are_accepted_by_default_and_can_be_dismissed(
        ctx: StepContext, site: str) -> None:
    run(ctx, "browser.open", {"url": f"{site}/dialogs.html"})
    assert run(ctx, "browser.last_dialog") == ""
    run(ctx, "browser.click", {"target": {"text": "提示"}})
    assert run(ctx, "browser.read_text", {"target": "#out"}) == "alerted"
    assert run(ctx, "browser.last_dialog") == "保存成功"
    run(ctx, "browser.click", {"target": {"text": "确认"}})
    assert run(ctx, "browser.read_text", {"target": "#out"}) == "true"
    assert run(ctx, "browser.last_dialog") == "确认删除该账户？"
    run(ctx, "browser.click", {"target": {"text": "输入"}})
    assert run(ctx, "browser.read_text", {"target": "#out"}) == "张三"

    try:
        run(ctx, "browser.dialogs", {"action": "dismiss"})
        run(ctx, "browser.click", {"target": {"text": "确认"}})
        assert run(ctx, "browser.read_text", {"target": "#out"}) == "false"
        run(ctx, "browser.click", {"target": {"text": "输入"}})
        assert run(ctx, "browser.read_text", {"target": "#out"}) == "null"

        run(ctx, "browser.dialogs", {"text": "李四"})
        run(ctx, "browser.click", {"target": {"text": "输入"}})
        assert run(ctx, "browser.read_text", {"target": "#out"}) == "李四"
        assert run(ctx, "browser.last_dialog") == "请输入经办人"
    finally:
        run(ctx, "browser.dialogs", {})
    kinds = [d.kind for d in session(ctx).dialogs[-6:]]
    assert kinds == ["alert", "confirm", "prompt", "confirm", "prompt", "prompt"]


def test_new_tabs_from_clicks_and_switching_between_tabs(
        ctx: StepContext, make_ctx: Callable[..., StepContext], site: str) -> None:
    run(ctx, "browser.open", {"url": f"{site}/tabs.html", "new_tab": True})
    home = session(ctx).page
    run(ctx, "browser.click", {"target": {"text": "打开明细"}, "opens_tab": True})
    assert session(ctx).page is not home
    assert run(ctx, "browser.read_text", {"target": "h1"}) == "账户明细"

    run(ctx, "browser.switch_tab", {"title": "首页"})
    assert session(ctx).page is home
    run(ctx, "browser.click", {"target": {"role": "button", "name": "弹出窗口"},
                               "opens_tab": True})
    assert session(ctx).page.url.endswith("detail.html?via=js")

    run(ctx, "browser.switch_tab", {"index": -1})
    assert session(ctx).page.url.endswith("via=js")
    run(ctx, "browser.switch_tab", {"url": "tabs.html"})
    assert session(ctx).page is home
    run(ctx, "browser.switch_tab", {"url": "via=js"})
    run(ctx, "browser.close_tab")
    assert session(ctx).page is home

    with pytest.raises(SystemFailure, match=r"no tab with title '不存在'.*tabs.html"):
        run(make_ctx(timeout=0.3), "browser.switch_tab", {"title": "不存在"})

    with pytest.raises(SystemFailure, match="opened no new tab"):
        run(make_ctx(timeout=1.0), "browser.click",
            {"target": "h1", "opens_tab": True})

    for page in session(ctx).pages:
        if page is not home:
            page.close()


def test_wait_for_text_that_appears_later(ctx: StepContext, site: str) -> None:
    run(ctx, "browser.open", {"url": f"{site}/delayed.html"})
    run(ctx, "browser.click", {"target": {"role": "button", "name": "查询"}})
    run(ctx, "browser.wait_for", {"target": "#spinner"})
    run(ctx, "browser.wait_for", {"text": "查询完成"})
    assert run(ctx, "browser.read_text", {"target": "#status"}) == "查询完成"
    run(ctx, "browser.wait_for", {"target": "#spinner", "state": "hidden"})
    run(ctx, "browser.wait_for", {"url": "**/delayed.html"})
    run(ctx, "browser.wait_for", {"target": "#status", "text": "完成"})


def test_wait_for_failures_say_what_did_not_happen(
        make_ctx: Callable[..., StepContext], site: str) -> None:
    ctx = make_ctx()
    run(ctx, "browser.open", {"url": f"{site}/delayed.html"})
    with pytest.raises(StepArgumentError, match="needs target, text, url or any"):
        run(ctx, "browser.wait_for", {"state": "visible"})
    with pytest.raises(SystemFailure, match="the text '从未出现' did not appear in the page"):
        run(make_ctx(timeout=0.5), "browser.wait_for", {"text": "从未出现"})
    with pytest.raises(SystemFailure,
                       match=r"'#spinner' was found on .* but stayed hidden for 1s"):
        run(make_ctx(timeout=1.0), "browser.wait_for", {"target": "#spinner"})


def test_a_missing_target_names_the_target_and_the_page(
        make_ctx: Callable[..., StepContext], site: str) -> None:
    ctx = make_ctx(timeout=1.0)
    run(ctx, "browser.open", {"url": f"{site}/form.html"})
    with pytest.raises(SystemFailure) as caught:
        run(make_ctx(timeout=0.5), "browser.click", {"target": {"role": "button", "name": "注销"}})
    message = str(caught.value)
    assert message.startswith("browser.click: no element matches {role: button, name: 注销} on "
                              f"{site}/form.html after 500ms;")
    assert "check the target" in message

    with pytest.raises(SystemFailure, match=r"^browser.fill: no element matches '#missing' on "):
        run(make_ctx(timeout=0.3), "browser.fill", {"target": "#missing", "text": "x"})


def test_a_disabled_target_is_reported_as_found_but_disabled(
        make_ctx: Callable[..., StepContext], site: str) -> None:
    run(make_ctx(), "browser.open", {"url": f"{site}/form.html"})
    with pytest.raises(SystemFailure,
                       match=r"\{role: button, name: 审批\} was found on .* but stayed disabled"):
        run(make_ctx(timeout=1.0), "browser.click", {"target": {"role": "button", "name": "审批"}})


def test_an_ambiguous_target_asks_for_nth(ctx: StepContext, site: str) -> None:
    run(ctx, "browser.open", {"url": f"{site}/form.html"})
    with pytest.raises(StepArgumentError) as caught:
        run(ctx, "browser.click", {"target": {"text": "登录"}})
    assert str(caught.value) == (
        "browser.click: {text: 登录} matches 2 elements (1) <button type=\"button\" "
        "onclick=\"document.getElementById('who').innerText = '已登录'\">登录</button>; 2) "
        f"<a href=\"#top\">登录</a>) on {site}/form.html; write the target as "
        "{text: 登录, nth: 0} for the first (nth: 1 for the second), or make it more specific "
        "(e.g. {role: button, name: 登录}, or exact: true)")
    # a selector text: the fix is written as the map it becomes with nth
    for name in ("browser.read_text", "browser.wait_for"):
        with pytest.raises(StepArgumentError, match=rf"^{name}: 'button' matches 3 elements "
                           r".*; write the target as \{css: button, nth: 0\} for the first"):
            run(ctx, name, {"target": "button"})
    with pytest.raises(StepArgumentError, match=r"write the target as 'text=登录 >> nth=0' for"):
        run(ctx, "browser.read_text", {"target": "text=登录"})
    run(ctx, "browser.click", {"target": {"text": "登录", "nth": 0}})
    assert run(ctx, "browser.read_text", {"target": "#who"}) == "已登录"


def test_wrong_targets_and_addresses_are_argument_errors(ctx: StepContext, site: str) -> None:
    run(ctx, "browser.open", {"url": f"{site}/form.html"})
    with pytest.raises(ValidationError, match=r"this one has label, css; keep one of them"):
        run(ctx, "browser.click", {"target": {"label": "户名", "css": "#name"}})
    with pytest.raises(ValidationError, match="did you mean 'button'"):
        run(ctx, "browser.click", {"target": {"role": "buton", "name": "提交"}})
    with pytest.raises(StepArgumentError, match="'##bad' is not a valid selector"):
        run(ctx, "browser.click", {"target": "##bad"})
    with pytest.raises(StepArgumentError, match="'Enterr' is not a key name"):
        run(ctx, "browser.press", {"key": "Enterr"})
    with pytest.raises(StepArgumentError, match="not a full address"):
        run(ctx, "browser.open", {"url": "127.0.0.1/form.html"})
    with pytest.raises(StepArgumentError, match=r"either option .* or options"):
        run(ctx, "browser.select", {"target": "#currency"})


def test_an_unreachable_address_is_a_system_failure(ctx: StepContext) -> None:
    with Port() as held, pytest.raises(SystemFailure, match="connection refused"):
        run(ctx, "browser.open", {"url": f"{held.url}/"})  # held, never listened on


def test_screenshots_are_png_files_and_artifacts(ctx: StepContext, site: str) -> None:
    run(ctx, "browser.open", {"url": f"{site}/form.html"})
    path = Path(run(ctx, "browser.screenshot"))
    assert path.parent == (ctx.output_dir / "screenshots").resolve()
    assert path.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    element = Path(run(ctx, "browser.screenshot", {"path": "表单.png", "target": "#form"}))
    assert element.name == "表单.png" and element.read_bytes()[:4] == b"\x89PNG"
    assert {str(path), str(element)} <= {a.path for a in ctx.state.artifacts
                                         if a.kind == "screenshot"}

    captured = session(ctx).capture(ctx.output_dir / "failure" / "shot.png")
    assert captured is not None and captured.read_bytes()[:4] == b"\x89PNG"


def test_evaluate_runs_expressions_and_function_bodies(ctx: StepContext, site: str) -> None:
    run(ctx, "browser.open", {"url": f"{site}/form.html"})
    assert run(ctx, "browser.evaluate", {"script": "document.title"}) == "开户登记"
    assert run(ctx, "browser.evaluate", {"script": "const n = 20; return {n: n + 1}"}) == \
        {"n": 21}
    assert run(ctx, "browser.evaluate", {"script": "() => [1, '二']"}) == [1, "二"]
    with pytest.raises(SystemFailure, match=r"browser.evaluate: could not run the script on .*"
                                            "noSuchThing is not defined"):
        run(ctx, "browser.evaluate", {"script": "noSuchThing.value"})


def test_close_then_the_next_step_starts_a_new_browser(ctx: StepContext, site: str) -> None:
    run(ctx, "browser.open", {"url": f"{site}/form.html"})
    run(ctx, "browser.close")
    assert not session(ctx).running
    assert session(ctx).capture(ctx.output_dir / "none.png") is None
    run(ctx, "browser.open", {"url": f"{site}/detail.html"})
    assert run(ctx, "browser.read_text", {"target": "h1"}) == "账户明细"


def test_step_signatures_robots_rely_on() -> None:
    def params(name: str) -> list[str]:
        return list(REGISTRY[name].params)

    assert REGISTRY["browser.open"].main == "url"
    assert params("browser.click") == ["target", "button", "double", "modifiers", "opens_tab"]
    assert params("browser.read_table") == ["target", "next_page", "max_pages"]
    assert params("browser.wait_for") == ["target", "state", "text", "url", "any"]
    assert REGISTRY["browser.read_text"].returns and not REGISTRY["browser.click"].returns
    for name, spec in REGISTRY.items():
        if name.startswith("browser."):
            assert spec.summary, name
            assert all(f.description for f in spec.params.values()), name

