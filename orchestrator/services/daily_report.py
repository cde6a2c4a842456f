"""The daily report sender: once a minute, when the report is enabled and its send time has
passed, mails the report of the day before to management — exactly once per day, in any
number of orchestrator processes, across restarts (orchestrator/report.py: the claim).

The claim is committed before the mail is rendered and sent, and the outcome after, so no
database lock is held while SMTP talks; a failed send is retried (report.MAX_ATTEMPTS in all),
then left failed with its error for the console to show."""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable

from sqlalchemy.orm import Session, sessionmaker

from orchestrator import report
from orchestrator.jobs import utcnow
from orchestrator.outages import log_failure
from orchestrator.refusals import Invalid
from orchestrator.settings import Settings

log = logging.getLogger("workhand.daily_report")
Clock = Callable[[], dt.datetime]


def send_day(sessions: sessionmaker[Session], settings: Settings, day: dt.date) -> bool:
    """Render and send the report of a day already claimed, and record how it went; True when
    it went out. Never raises for a mail that could not be made or sent: that is the row's
    error."""
    from libs.steps.mail.smtp import deliver
    from orchestrator.console import report_mail

    message_id, recipients, error = "", [], ""
    try:
        with sessions.begin() as session:
            chosen = report.load_settings(session)
            data = report.figures(session, settings, day)
            server = report.server(session, settings, chosen)
        rendered = report_mail.render(data, chosen.language)
        msg, sender, to = report_mail.message(rendered, chosen)
        recipients = [str(a) for a in to]
        if not to:
            raise Invalid("the report has no recipient")
        refused = deliver(server, msg, sender.addr_spec, [a.addr_spec for a in to])
        message_id = str(msg["Message-ID"])
        if refused:
            log.warning("daily report %s: the server refused %s", day, ", ".join(refused))
    except Exception as err:  # the error is the row's, shown in the console
        error = str(err) or type(err).__name__
        log.warning("daily report %s could not be sent: %s", day, error)
    with sessions.begin() as session:
        report.finish(session, day, message_id=message_id, recipients=recipients, error=error)
    return not error


class DailyReportSender:
    """One background thread; ``tick(now)`` does one round and can be driven by tests."""

    def __init__(self, sessions: sessionmaker[Session], settings: Settings, *,
                 clock: Clock | None = None, interval_s: float = 60.0) -> None:
        self.sessions, self.settings, self.interval_s = sessions, settings, interval_s
        self.clock = clock or utcnow
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="workhand-daily-report",
                                        daemon=True)

    def tick(self, now: dt.datetime | None = None) -> dt.date | None:
        """Send the report that is due, if this process wins its claim; the day sent (or
        tried), None when nothing was due or another process has it."""
        now = now or self.clock()
        with self.sessions.begin() as session:
            gone = report.interrupted(session, now)
            if gone:
                log.warning("%d daily report send(s) were interrupted; not retried", gone)
            day = report.due_day(report.load_settings(session), now)
            if day is None or not report.claim(session, day, now):
                return None
        send_day(self.sessions, self.settings, day)
        return day

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.tick()
            except Exception as err:  # the service must outlive a database hiccup
                log_failure(log, "the daily report sender failed; trying again", err)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
