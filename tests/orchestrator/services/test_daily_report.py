"""The daily report, end to end: a real SQLite orchestrator with finished runs and KPI rows
for a day, the real sender service, a real SMTP server (aiosmtpd) and the PDF rendered by
poppler. Mailed once per day whatever the ticks and processes; the figures are the KPI API's."""

from __future__ import annotations

import datetime as dt
import email
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from orchestrator import kpi, report
from orchestrator.app import create_app
from orchestrator.auth import create_token
from orchestrator.console import i18n, report_mail
from orchestrator.db import make_engine, session_factory
from orchestrator.models import DailyReport, Job, RobotVersion
from orchestrator.refusals import Refusal
from orchestrator.roles import Role
from orchestrator.services.daily_report import DailyReportSender
from orchestrator.settings import Settings
from tests.servers import Port

DAY = dt.date(2026, 11, 30)  # a Monday; the report is due on 2026-12-01 from 08:00 Shanghai
DUE = dt.datetime(2026, 12, 1, 1, 0, tzinfo=dt.UTC)  # 09:00 in Asia/Shanghai
SAVINGS = {"minutes_per_item": 6, "minutes_per_run": 20, "review_minutes": 3}
ROBOTS = ("开户核查", "s1-reconcile")


class Inbox:
    def __init__(self) -> None:
        self.mails: list[tuple[list[str], EmailMessage]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        parsed = email.message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        self.mails.append((list(envelope.rcpt_tos), parsed))
        return "250 OK"


@dataclass
class Site:
    settings: Settings
    sessions: sessionmaker[Session]
    api: TestClient
    inbox: Inbox
    port: int

    def configure(self, **changes: Any) -> None:
        values = {"enabled": True, "send_time": "08:00", "smtp_host": "127.0.0.1",
                  "smtp_port": self.port, "language": "zh",
                  "recipients": ["行长 <president@bank.cn>", "ops@bank.cn"],
                  "from_address": "Workhand <robot@bank.cn>", **changes}
        with self.sessions.begin() as session:
            report.save_settings(session, report.check(values), "test")


@pytest.fixture
def inbox() -> Iterator[tuple[Inbox, int]]:
    found = Inbox()
    with Port() as port:
        controller = Controller(found, hostname="127.0.0.1", port=port.number)
        controller.start()
        yield found, port.number
        controller.stop()


def _job(session: Session, robot: str, state: str, at: dt.datetime,
         error: dict[str, Any] | None = None) -> None:
    session.add(Job(robot=robot, version=robot.encode().hex()[:64].ljust(64, "0"), state=state,
                    created=at, started=at, finished=at + dt.timedelta(minutes=3),
                    error=error, source="schedule"))


def seed(sessions: sessionmaker[Session]) -> None:
    """Finished runs of two robots on DAY (and one the day before), and their KPI rows on DAY
    and earlier that month (and one in the month before, which no figure counts)."""
    with sessions.begin() as session:
        for robot in ROBOTS:
            session.add(RobotVersion(digest=robot.encode().hex()[:64].ljust(64, "0"),
                                     robot=robot, file=f"{robot}.yaml", bundle=b""))
        session.flush()
        noon = dt.datetime(2026, 11, 30, 4, 0, tzinfo=dt.UTC)  # 12:00 in Shanghai
        for i in range(3):
            _job(session, ROBOTS[0], "succeeded", noon + dt.timedelta(minutes=i))
        for account in ("#acc-1021", "#acc-877"):
            _job(session, ROBOTS[1], "failed", noon, {
                "message": f"robots/s1.yaml:14:7: no element matches '{account}'",
                "step": "robots/s1.yaml:14:7"})
        _job(session, ROBOTS[1], "succeeded", noon)
        _job(session, ROBOTS[1], "failed", noon - dt.timedelta(days=1), {"message": "old"})
    with sessions.begin() as session:  # the KPI rows, as dispatch.finish writes them
        for day, robot, ok, done, back, errors in [
                (DAY, ROBOTS[0], True, 40, 3, 0), (DAY, ROBOTS[0], True, 25, 1, 0),
                (DAY, ROBOTS[0], True, 10, 0, 0), (DAY, ROBOTS[1], False, 0, 0, 2),
                (DAY, ROBOTS[1], False, 0, 0, 1), (DAY, ROBOTS[1], True, 120, 7, 0),
                (dt.date(2026, 11, 12), ROBOTS[1], True, 300, 2, 0),
                (dt.date(2026, 11, 3), ROBOTS[0], True, 55, 0, 0),
                (dt.date(2026, 10, 31), ROBOTS[0], True, 999, 0, 0)]:  # another month
            kpi.record(session, robot=robot, day=day, succeeded=ok, robot_seconds=180,
                       savings=SAVINGS, items={"done": done, "business_exceptions": back,
                                               "system_errors": errors})


@pytest.fixture
def site(tmp_path: Path, inbox: tuple[Inbox, int]) -> Iterator[Site]:
    settings = Settings(data_dir=tmp_path / "data", hours_per_fte=1720, hourly_cost=120)
    app = create_app(settings, services=False)
    sessions = app.state.sessions
    with sessions.begin() as session:
        token = create_token(session, Role.VIEWER)
    seed(sessions)
    with TestClient(app, headers={"Authorization": f"Bearer {token}"}) as api:
        found = Site(settings, sessions, api, *inbox)
        found.configure()
        yield found


def _html(msg: EmailMessage) -> str:
    part = msg.get_body(preferencelist=("html",))
    assert isinstance(part, EmailMessage)
    return str(part.get_content())


def _figures(html: str) -> dict[str, float]:
    return {key: float(value.replace(",", "")) for key, value in
            re.findall(r'data-figure="((?:day|month)\.\w+)">([^<]*)<', html)}


def test_sent_once_with_the_kpi_apis_figures(site: Site, tmp_path: Path) -> None:
    before = DUE.replace(hour=23, day=30, month=11)  # 07:00 on the 1st in Shanghai: not yet
    sender = DailyReportSender(site.sessions, site.settings)
    assert sender.tick(before) is None and site.inbox.mails == []
    # a second orchestrator process: its own engine on the same database file
    other = make_engine(site.settings.database_url)
    try:
        second = DailyReportSender(session_factory(other), site.settings)
        ticks = [threading.Thread(target=s.tick, args=(DUE,)) for s in (sender, second)]
        for tick in ticks:
            tick.start()
        for tick in ticks:
            tick.join()
        sender.tick(DUE + dt.timedelta(minutes=1))
        second.tick(DUE + dt.timedelta(hours=5))
        restarted = DailyReportSender(session_factory(other), site.settings)  # a restart
        restarted.tick(DUE + dt.timedelta(hours=6))
    finally:
        other.dispose()
    assert len(site.inbox.mails) == 1
    rcpt, msg = site.inbox.mails[0]
    assert rcpt == ["president@bank.cn", "ops@bank.cn"]
    assert msg["To"].addresses[0].display_name == "行长"
    assert msg["Subject"] == "Workhand 机器人日报 2026-11-30"
    with site.sessions() as session:
        row = session.scalars(select(DailyReport)).one()
    assert (row.day, row.state, row.attempts, row.error) == (DAY, "sent", 1, "")
    assert row.message_id == msg["Message-ID"] and "行长 <president@bank.cn>" in row.recipients

    html = _html(msg)
    day = site.api.get("/api/v1/kpi", params={"start": str(DAY), "end": str(DAY)}).json()
    month = site.api.get("/api/v1/kpi", params={"start": "2026-11-01", "end": str(DAY)}).json()
    shown = _figures(html)
    assert len(shown) == 18
    for key, value in shown.items():
        scope, name = key.split(".")
        assert value == pytest.approx((day if scope == "day" else month)["totals"][name],
                                      abs=1e-9), key
    assert shown["day.items_done"] == 195 and shown["month.items_done"] == 550
    assert re.search(r'data-state="failed">2<', html)  # created that day; not the day before
    assert html.count('data-figure="count">2<') == 1  # the two "no element matches" as one

    images = [p for p in msg.walk() if p.get_content_type() == "image/png"]
    assert len(images) == 2
    for part in images:
        cid = str(part["Content-ID"]).strip("<>")
        assert f'src="cid:{cid}"' in html
        assert part.get_payload(decode=True)[:8] == b"\x89PNG\r\n\x1a\n"  # type: ignore[index]
    pdfs = [p for p in msg.iter_attachments() if p.get_content_type() == "application/pdf"]
    assert [p.get_filename() for p in pdfs] == ["Workhand机器人日报-2026-11-30.pdf"]
    _pages_are_drawn(pdfs[0].get_payload(decode=True), tmp_path)  # type: ignore[arg-type]


def _pages_are_drawn(pdf: bytes, folder: Path) -> None:
    from PIL import Image

    (folder / "report.pdf").write_bytes(pdf)
    subprocess.run(["pdftoppm", "-png", "-r", "60", str(folder / "report.pdf"),
                    str(folder / "page")], check=True, timeout=60)
    pages = sorted(folder.glob("page*.png"))
    assert pages
    for page in pages:
        with Image.open(page) as image:
            colours = image.convert("RGB").getcolors(maxcolors=1_000_000) or []
        assert len(colours) > 50, f"{page.name} looks blank ({len(colours)} colours)"
    # the Chinese text is drawn, not tofu: the first page has many dark pixels in its title
    with Image.open(pages[0]) as image:
        top = image.convert("L").crop((0, 0, image.width, image.height // 8))
        assert sum(top.histogram()[:100]) > 200


def test_the_same_day_renders_the_same_and_english_in_english(site: Site) -> None:
    with site.sessions() as session:
        data = report.figures(session, site.settings, DAY)
    first, again = report_mail.render(data, "zh"), report_mail.render(data, "zh")
    assert first.html == again.html and first.preview == again.preview
    assert first.charts == again.charts and set(first.charts) == {"hours", "items"}
    assert "概览" in first.html and "本月累计" in first.html
    english = report_mail.render(data, "en")
    assert "Summary" in english.html and "Month to date" in english.html
    assert not re.search(r"[\u4e00-\u9fff]", re.sub(ROBOTS[0], "", english.html))
    assert english.charts["hours"] != first.charts["hours"]  # the titles are in English


def test_english_setting_gives_an_english_mail(site: Site) -> None:
    site.configure(language="en")
    DailyReportSender(site.sessions, site.settings).tick(DUE)
    _, msg = site.inbox.mails[0]
    assert msg["Subject"] == "Workhand daily report 2026-11-30"
    assert "Per robot" in _html(msg)
    names = [p.get_filename() for p in msg.iter_attachments()]
    assert names == ["workhand-daily-report-2026-11-30.pdf"]


def test_a_failed_send_is_retried_then_left_failed(site: Site) -> None:
    with Port() as nothing:  # nobody listens: every send fails
        site.configure(smtp_port=nothing.number)
        sender = DailyReportSender(site.sessions, site.settings)
        at = DUE
        assert sender.tick(at) == DAY
        assert sender.tick(at + dt.timedelta(minutes=1)) is None  # not before RETRY_AFTER
        for _ in range(report.MAX_ATTEMPTS):
            at += report.RETRY_AFTER
            sender.tick(at)
    with site.sessions() as session:
        row = session.scalars(select(DailyReport)).one()
    assert (row.state, row.attempts) == ("failed", report.MAX_ATTEMPTS)
    assert f"127.0.0.1:{nothing.number}" in row.error and "president@bank.cn" in row.error
    site.configure()  # the server is fixed: an admin's send now goes, the service's does not
    sender.tick(at + report.RETRY_AFTER)
    assert site.inbox.mails == []
    with site.sessions.begin() as session:
        report.claim_now(session, DAY, "admin", at)
    from orchestrator.services.daily_report import send_day

    assert send_day(site.sessions, site.settings, DAY)
    assert len(site.inbox.mails) == 1


def test_a_send_interrupted_half_way_is_never_sent_again_by_itself(site: Site) -> None:
    with site.sessions.begin() as session:  # a process claimed the day, then died
        assert report.claim(session, DAY, DUE)
    sender = DailyReportSender(site.sessions, site.settings)
    assert sender.tick(DUE + dt.timedelta(minutes=1)) is None
    sender.tick(DUE + report.INTERRUPTED_AFTER + dt.timedelta(minutes=1))
    sender.tick(DUE + dt.timedelta(hours=3))
    assert site.inbox.mails == []
    with site.sessions() as session:
        row = session.scalars(select(DailyReport)).one()
    assert row.state == "failed" and "interrupted" in row.error


def test_every_word_of_the_mail_has_its_chinese() -> None:
    source = Path(report_mail.__file__).read_text(encoding="utf-8")
    used = set(re.findall(r'_\(\s*"([^"]+)"', source))
    used |= set(re.findall(r'(?:Invalid|Conflict)\(\s*"([^"]+)"',
                           Path(report.__file__).read_text(encoding="utf-8")))
    assert len(used) > 10
    assert sorted(m for m in used if m not in i18n.ZH) == []


def test_settings_are_checked(site: Site) -> None:
    with pytest.raises(Refusal, match="HH:MM"):
        report.check({"send_time": "8点"})
    with pytest.raises(Refusal, match="not an email address"):
        report.check({"recipients": ["行长"]})
    with pytest.raises(Refusal, match="no recipient"):
        report.check({"enabled": True})
    with pytest.raises(Refusal) as err:
        report.check({"language": "fr"})
    assert i18n.text(err.value.message, "zh", **err.value.values) == "语言应为 zh 或 en，而不是“fr”"


def test_importing_the_orchestrator_loads_no_chart_or_pdf_library() -> None:
    code = ("import sys, orchestrator.app, orchestrator.console.report_mail, "
            "orchestrator.services.daily_report; "
            "print(sorted(m for m in ('matplotlib', 'weasyprint') if m in sys.modules))")
    found = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           check=True, timeout=120, cwd=Path(__file__).parents[3])
    assert found.stdout.strip() == "[]"


def test_one_claim_per_day_on_both_databases(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        assert report.claim(session, DAY, DUE)
    with sessions.begin() as session:  # another process, or this one after a restart
        assert not report.claim(session, DAY, DUE + dt.timedelta(hours=1))
        report.finish(session, DAY, error="the server said no")
    with sessions.begin() as session:
        assert not report.claim(session, DAY, DUE + dt.timedelta(minutes=1))  # too soon
        assert report.claim(session, DAY, DUE + report.RETRY_AFTER)
        assert not report.claim(session, DAY, DUE + 2 * report.RETRY_AFTER)  # it is sending
    with sessions.begin() as session, pytest.raises(Refusal, match="right now"):
        report.claim_now(session, DAY, "admin", DUE)
