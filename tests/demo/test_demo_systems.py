"""The demo bank systems themselves: logins, guarded actions, downloads, the test endpoints."""

from __future__ import annotations

import asyncio
import csv
import io
import smtplib
from collections.abc import Iterator
from email.message import EmailMessage
from urllib.parse import unquote

import httpx
import openpyxl
import pytest

from workhand.demo import DemoSystems, start
from workhand.demo.app import create_app
from workhand.demo.seed import OA_TOKEN, USERS
from workhand.demo.state import DemoState


@pytest.fixture(scope="module")
def running() -> Iterator[DemoSystems]:
    with start() as demo:
        yield demo


@pytest.fixture
def demo(running: DemoSystems) -> DemoSystems:
    running.reset()
    return running


def client(demo: DemoSystems, system: str | None = None) -> httpx.Client:
    """A client, logged in to `system` when given."""
    c = httpx.Client(base_url=demo.base_url, timeout=10)
    if system:
        username, password = USERS[system]
        r = c.post(f"/{system}/login", data={"username": username, "password": password})
        assert r.status_code == 303, r.text
    return c


def account(demo: DemoSystems, number: str) -> dict:
    return next(a for a in demo.state()["accounts"] if a["number"] == number)


DUE = "360202880000100106"  # 江西鄱阳湖水产养殖有限公司, due for inspection


@pytest.mark.parametrize("path", ["/accounts/list", f"/accounts/account/{DUE}",
                                  "/accounts/changes/export", "/imaging/", "/imaging/query",
                                  "/core/", "/core/statement.csv", "/clearing/",
                                  "/clearing/report.xlsx", "/oa/tickets"])
def test_pages_need_a_login(demo: DemoSystems, path: str) -> None:
    r = client(demo).get(path)
    assert r.status_code == 303
    system = path.split("/")[1]
    assert r.headers["location"].startswith(f"/{system}/login?next=")
    assert unquote(r.headers["location"].split("next=")[1]) == path


def test_login_checks_the_password_and_is_counted(demo: DemoSystems) -> None:
    c = client(demo)
    r = c.post("/imaging/login", data={"username": USERS["imaging"][0], "password": "wrong"})
    assert r.status_code == 401
    assert "柜员号或密码错误" in r.text
    assert client(demo, "imaging").get("/imaging/").status_code == 200
    state = demo.state()
    assert state["logins"] == {"imaging": 1}
    assert state["login_failures"] == {"imaging": 1}


def test_a_session_opens_only_its_own_system(demo: DemoSystems) -> None:
    c = client(demo, "accounts")
    assert c.get("/accounts/list").status_code == 200
    assert c.get("/core/").status_code == 303


def test_login_returns_to_the_page_asked_for(demo: DemoSystems) -> None:
    username, password = USERS["accounts"]
    r = client(demo).post("/accounts/login", data={"username": username, "password": password,
                                                    "next": f"/accounts/account/{DUE}"})
    assert r.headers["location"] == f"/accounts/account/{DUE}"


def test_account_list_pages_through_the_due_accounts(demo: DemoSystems) -> None:
    c = client(demo, "accounts")
    first, second = c.get("/accounts/list"), c.get("/accounts/list?page=2")
    assert "下一页" in first.text and "下一页" not in second.text
    due = [a["number"] for a in demo.state()["accounts"] if a["due"]]
    assert len(due) == 13
    assert all((n in first.text) != (n in second.text) for n in due)


def test_registry_ranks_the_exact_name_first_and_pages(demo: DemoSystems) -> None:
    c = client(demo)
    data = c.get("/registry/api/search", params={"q": "江西赣江物流有限公司"}).json()
    assert data["total"] == 7 and data["pages"] == 2
    assert data["results"][0]["name"] == "江西赣江物流有限公司"
    page2 = c.get("/registry/api/search", params={"q": "江西赣江物流有限公司", "page": 2}).json()
    assert len(data["results"]) + len(page2["results"]) == 7
    detail = c.get(data["results"][0]["url"])
    assert '<span class="status">存续</span>' in detail.text
    assert '<span class="annual-report">已公示</span>' in detail.text
    assert demo.state()["registry_searches"] == ["江西赣江物流有限公司"] * 2


def test_registry_statuses_cover_every_outcome(demo: DemoSystems) -> None:
    expected = demo.state()["expected"]["registry"]
    assert len(expected) == 13
    statuses = [e["status"] for e in expected.values()]
    assert {"存续", "注销", "吊销", "经营异常", "查无此企业"} == set(statuses)
    normal = [e for e in expected.values() if e == {"status": "存续", "annual_report": "已公示"}]
    assert len(normal) == 7


def test_inspection_marks_the_account(demo: DemoSystems) -> None:
    r = client(demo, "accounts").post(f"/accounts/account/{DUE}/inspect", follow_redirects=True)
    assert "年检通过：账户已标记为已年检" in r.text
    rec = account(demo, DUE)
    assert rec["status"] == "已年检" and rec["inspected_on"] == demo.state()["today"]


def test_payment_stop_needs_the_confirmation(demo: DemoSystems) -> None:
    c = client(demo, "accounts")
    r = c.post(f"/accounts/account/{DUE}/stop", data={"reason": "企业已注销"})
    assert r.status_code == 400
    assert account(demo, DUE)["stopped"] is False
    r = c.post(f"/accounts/account/{DUE}/stop", data={"reason": "企业已注销", "confirmed": "1"})
    assert r.status_code == 303
    rec = account(demo, DUE)
    assert rec["stopped"] is True and rec["status"] == "已止付"
    assert rec["stop_reason"] == "企业已注销"


def test_hand_back_needs_a_reason(demo: DemoSystems) -> None:
    c = client(demo, "accounts")
    assert c.post(f"/accounts/account/{DUE}/handback", data={"reason": " "}).status_code == 400
    assert account(demo, DUE)["handed_back"] is False
    c.post(f"/accounts/account/{DUE}/handback", data={"reason": "经营异常，请网点核实"})
    rec = account(demo, DUE)
    assert rec["handed_back"] is True and rec["handback_reason"] == "经营异常，请网点核实"


def test_an_outage_fails_an_account_until_it_is_lifted(demo: DemoSystems) -> None:
    c = client(demo, "accounts")
    demo.outage([DUE])
    assert demo.state()["outage"] == [DUE]
    page = c.get(f"/accounts/account/{DUE}")
    assert page.status_code == 503 and "系统繁忙" in page.text and "年检通过" not in page.text
    assert c.post(f"/accounts/account/{DUE}/inspect").status_code == 503
    assert account(demo, DUE)["actions"] == []
    demo.outage([])
    assert c.post(f"/accounts/account/{DUE}/inspect").status_code == 303
    assert len(account(demo, DUE)["actions"]) == 1
    demo.outage([DUE])
    demo.reset()  # a reset ends it too
    assert demo.state()["outage"] == []


def test_unknown_account_is_a_clear_404(demo: DemoSystems) -> None:
    r = client(demo, "accounts").get("/accounts/account/123")
    assert r.status_code == 404 and "账户 123 不存在" in r.text


def test_change_list_export_is_gbk_with_a_chinese_file_name(demo: DemoSystems) -> None:
    r = client(demo, "accounts").get("/accounts/changes/export")
    with pytest.raises(UnicodeDecodeError):
        r.content.decode("utf-8")
    rows = list(csv.DictReader(io.StringIO(r.content.decode("gbk"))))
    expected = demo.state()["expected"]["changes_yesterday"]
    assert [row["账号"] for row in rows] == [e["account"] for e in expected]
    assert len(rows) == 10 and sum(not e["filed"] for e in expected) == 3
    assert rows[0]["网点号"] == "0102" and rows[1]["账号"].startswith("0792")
    day = expected[0]["date"].replace("-", "")
    assert unquote(r.headers["content-disposition"].split("UTF-8''")[1]) == \
        f"账户变动清单_{day}.csv"


def test_change_list_follows_the_date(demo: DemoSystems) -> None:
    c = client(demo, "accounts")
    page = c.get("/accounts/changes").text
    day = demo.state()["expected"]["changes_yesterday"][0]["date"]
    assert f'value="{day}"' in page
    earlier = c.get("/accounts/changes/export", params={"date": "2000-01-01"})
    assert earlier.content.decode("gbk").strip() == "账号,户名,变动类型,变动日期,网点号,网点名称"


def test_imaging_reports_filed_and_unfiled(demo: DemoSystems) -> None:
    c = client(demo, "imaging")
    assert "系统公告" in c.get("/imaging/").text
    assert "系统公告" not in c.get("/imaging/").text  # shown once per session
    for change in demo.state()["expected"]["changes_yesterday"][:3]:
        r = c.get("/imaging/query", params={"account": change["account"]})
        word = "已上报" if change["filed"] else "未上报"
        assert f'<td class="filing-status">{word}</td>' in r.text
    assert "未找到账号" in c.get("/imaging/query", params={"account": "1"}).text


def test_core_statement_is_gbk_with_two_title_lines(demo: DemoSystems) -> None:
    r = client(demo, "core").get("/core/statement.csv")
    lines = r.content.decode("gbk").splitlines()
    assert lines[0].startswith("赣江银行核心业务系统") and lines[1].startswith("账务日期")
    rows = list(csv.DictReader(lines[2:]))
    assert len(rows) == demo.state()["expected"]["reconciliation"]["core_rows"] == 29
    assert any("," in row["金额"] for row in rows)  # thousands separators, as banks print them


def test_clearing_report_differs_from_the_core_as_seeded(demo: DemoSystems) -> None:
    clearing = client(demo, "clearing")
    link = clearing.post("/clearing/api/generate", data={"kind": "detail"}).json()
    assert link["filename"].startswith("清算明细_")
    wb = openpyxl.load_workbook(io.BytesIO(clearing.get(link["url"]).content))
    ws = wb["清算明细"]
    header = [c.value for c in ws[2]]
    assert header == ["流水号", "清算日期", "账号", "户名", "金额", "清算状态"]
    right = {r[0]: r[4] for r in ws.iter_rows(min_row=3, values_only=True)}
    core_lines = client(demo, "core").get("/core/statement.csv").content.decode("gbk")
    left = {r["流水号"]: float(r["金额"].replace(",", ""))
            for r in csv.DictReader(core_lines.splitlines()[2:])}
    expected = demo.state()["expected"]["reconciliation"]
    assert sorted(set(left) - set(right)) == expected["only_core"]
    assert sorted(set(right) - set(left)) == expected["only_clearing"]
    diffs = sorted(round(left[k] - right[k], 2) for k in set(left) & set(right)
                   if abs(left[k] - right[k]) > 0.001)
    assert diffs == [0.01, 100.0]


def test_oa_api_needs_the_token_and_a_title(demo: DemoSystems) -> None:
    c = client(demo)
    assert c.post("/oa/api/tickets", json={"title": "x"}).status_code == 401
    bad = {"Authorization": "Bearer nope"}
    assert c.post("/oa/api/tickets", json={"title": "x"}, headers=bad).status_code == 401
    auth = {"Authorization": f"Bearer {OA_TOKEN}"}
    assert c.post("/oa/api/tickets", json={"department": "清算部"}, headers=auth).status_code == 422
    r = c.post("/oa/api/tickets", json={"title": "对账差异", "differences": [1]}, headers=auth)
    assert r.status_code == 201 and r.json()["id"].startswith("OA-")
    tickets = demo.state()["tickets"]
    assert [(t["id"], t["title"], t["differences"]) for t in tickets] == \
        [(r.json()["id"], "对账差异", [1])]
    assert "对账差异" in client(demo, "oa").get("/oa/tickets").text


def test_smtp_sink_keeps_decoded_mails(demo: DemoSystems) -> None:
    msg = EmailMessage()
    msg["Subject"], msg["From"], msg["To"] = "影像未上报提醒", "robot@demo-bank.cn", "wd0101@x.cn"
    msg.set_content("请尽快补报。")
    msg.add_attachment(b"data", maintype="application", subtype="octet-stream",
                       filename="对账结果.xlsx")
    env = demo.env()
    with smtplib.SMTP(env["SMTP_HOST"], int(env["SMTP_PORT"])) as smtp:
        smtp.send_message(msg)
    [mail] = demo.state()["mails"]
    assert mail["subject"] == "影像未上报提醒" and mail["to"] == ["wd0101@x.cn"]
    assert mail["body"].strip() == "请尽快补报。" and mail["attachments"] == ["对账结果.xlsx"]


def test_reset_reseeds_everything(demo: DemoSystems) -> None:
    c = client(demo, "accounts")
    c.post(f"/accounts/account/{DUE}/inspect")
    demo.reset()
    assert account(demo, DUE)["status"] == "待年检"
    assert demo.state()["logins"] == {}
    assert c.get("/accounts/list").status_code == 303  # sessions are gone too


def test_test_endpoints_refuse_other_machines() -> None:
    async def ask(host: str) -> tuple[int, int, int]:
        transport = httpx.ASGITransport(app=create_app(DemoState()), client=(host, 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://demo") as c:
            return ((await c.get("/_state")).status_code, (await c.post("/_reset")).status_code,
                    (await c.post("/_outage", json={"accounts": []})).status_code)

    assert asyncio.run(ask("10.1.2.3")) == (403, 403, 403)
    assert asyncio.run(ask("127.0.0.1")) == (200, 200, 200)


def test_env_points_robots_at_each_system(demo: DemoSystems) -> None:
    env = demo.env()
    assert env["ACCOUNT_SYSTEM_URL"] == f"{demo.base_url}/accounts"
    c = client(demo)
    for key in ("REGISTRY_URL", "IMAGING_URL", "CORE_URL", "CLEARING_URL", "OA_URL"):
        assert c.get(env[key] + "/").status_code in (200, 303)


def test_mailbox_page_shows_received_mail(demo: DemoSystems) -> None:
    msg = EmailMessage()
    msg["Subject"], msg["From"], msg["To"] = "【对账差异】<测试>", "robot@demo-bank.cn", "qsb@x.cn"
    msg.set_content("请核查。")
    env = demo.env()
    with smtplib.SMTP(env["SMTP_HOST"], int(env["SMTP_PORT"])) as smtp:
        smtp.send_message(msg)
    page = client(demo).get("/mail").text
    assert "共 1 封" in page and "【对账差异】&lt;测试&gt;" in page and "请核查。" in page
