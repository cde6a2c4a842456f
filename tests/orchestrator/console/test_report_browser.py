"""日报 The daily report's page in real Chromium against a real server: an admin saves the
settings, previews a day (the mail's HTML with its charts drawn) and sends it now to a real
SMTP server; a viewer is refused. Makes docs/console/report-zh.png."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from aiosmtpd.controller import Controller
from playwright.sync_api import Page, expect
from sqlalchemy import select

from orchestrator import people, report
from orchestrator.app import create_app
from orchestrator.models import AuditEntry, DailyReport
from orchestrator.roles import Role
from orchestrator.settings import Settings
from tests.orchestrator.console.conftest import DOCS_SHOTS, PASSWORD, sign_in, wait_for
from tests.orchestrator.services.test_daily_report import DAY, Inbox, seed
from tests.servers import Port, ThreadServer

pytestmark = pytest.mark.acceptance


@dataclass
class ReportSite:
    url: str
    sessions: object
    inbox: Inbox
    smtp_port: int


@pytest.fixture(scope="module")
def report_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ReportSite]:
    root = tmp_path_factory.mktemp("report")
    app = create_app(Settings(data_dir=root / "data"), services=False)
    with app.state.sessions.begin() as session:
        for role in (Role.ADMIN, Role.VIEWER):
            people.create_user(session, role.value, role, PASSWORD)
    seed(app.state.sessions)
    inbox = Inbox()
    served = ThreadServer(lifespan="on")
    with Port() as smtp:
        controller = Controller(inbox, hostname="127.0.0.1", port=smtp.number)
        controller.start()
        served.start(app)
        yield ReportSite(served.url, app.state.sessions, inbox, smtp.number)
        served.close()
        controller.stop()


def test_an_admin_saves_previews_and_sends_now(report_site: ReportSite, page: Page) -> None:
    site = report_site
    sign_in(page, site, "admin", then="/console/report")  # type: ignore[arg-type]
    expect(page.locator("h1")).to_have_text("日报")
    expect(page.locator("header nav a[href='/console/report']")).to_have_text("日报")
    form = page.locator("#report-settings")
    form.locator("input[name=enabled]").check()
    form.locator("input[name=send_time]").fill("07:30")
    form.locator("textarea[name=recipients]").fill("行长")  # not an address: refused
    form.locator("input[name=smtp_port]").fill(str(site.smtp_port))
    page.click("#save-report")
    expect(page.locator("p.error")).to_contain_text("邮箱地址有误")
    form.locator("textarea[name=recipients]").fill("行长 <president@bank.cn>\nops@bank.cn")
    form.locator("input[name=smtp_host]").fill("127.0.0.1")
    form.locator("input[name=smtp_password]").fill("a secret of the mail server")
    form.locator("input[name=from_address]").fill("机器人 <robot@bank.cn>")
    page.click("#save-report")
    expect(page.locator("p.notice")).to_have_text("设置已保存。")
    expect(form.locator("textarea[name=recipients]")).to_have_value(
        "行长 <president@bank.cn>\nops@bank.cn")
    with site.sessions.begin() as session:  # type: ignore[attr-defined]
        chosen = report.load_settings(session)
        assert (chosen.enabled, chosen.send_time, chosen.smtp_port) == (True, "07:30",
                                                                       site.smtp_port)
        assert report.has_vault_password(session)
        entries = session.execute(select(AuditEntry.action, AuditEntry.object,
                                         AuditEntry.detail)).all()
    assert ("POST /console/report", "daily report settings") in {(a, o) for a, o, _ in entries}
    assert "a secret of the mail server" not in str(entries)

    page.fill("#preview-form input[name=day]", DAY.isoformat())
    page.click("#preview-report")
    frame = page.frame_locator("#report-preview")
    expect(frame.locator("#report-title")).to_have_text(f"Workhand 机器人日报 {DAY}")
    expect(frame.locator("[data-figure='day.items_done']")).to_have_text("195")
    images = frame.locator("img")
    expect(images).to_have_count(2)
    for i in range(2):
        wait_for("a chart to be drawn", lambda i=i: images.nth(i).evaluate(
            "img => img.complete && img.naturalWidth") > 300)

    DOCS_SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(DOCS_SHOTS / "report-zh.png"), full_page=True)
    page.click("#send-report")
    expect(page.locator("p.notice")).to_have_text(f"{DAY} 的日报已发送。", timeout=60_000)
    row = page.locator(f"#sends tr[data-day='{DAY}']")
    expect(row.locator(".send-state")).to_have_text("已发送")
    expect(row).to_contain_text("admin")
    assert len(site.inbox.mails) == 1
    rcpt, msg = site.inbox.mails[0]
    assert rcpt == ["president@bank.cn", "ops@bank.cn"]
    assert msg["From"].addresses[0].display_name == "机器人"
    with site.sessions() as session:  # type: ignore[operator]
        sent = session.scalars(select(DailyReport)).one()
        assert (sent.state, sent.by) == ("sent", "admin")
    page.select_option("select[name=language]", "en")  # the page in English, for the docs
    expect(page.locator("html")).to_have_attribute("lang", "en")
    page.goto(f"{site.url}/console/report")
    expect(page.locator(f"#sends tr[data-day='{DAY}'] .send-state")).to_have_text("sent")
    page.screenshot(path=str(DOCS_SHOTS / "report-en.png"), full_page=True)


def test_a_viewer_is_refused(report_site: ReportSite, page: Page) -> None:
    sign_in(page, report_site, "viewer")  # type: ignore[arg-type]
    expect(page.locator("header nav a[href='/console/report']")).to_have_count(0)
    for path in ("/console/report", f"/console/report/preview?day={DAY}"):
        answer = page.goto(report_site.url + path)
        assert answer is not None and answer.status == 403
        expect(page.locator(".error")).to_contain_text("无权执行此操作")
    assert re.search(r"/console/report", page.url)

