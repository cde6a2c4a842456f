"""日报 The daily report to management: its figures, its settings and the record of its sends.

The figures are kpi.query()'s — the same as GET /api/v1/kpi for the day (and for the month to
date) — with the day's runs by state and its failures grouped by signature (orchestrator/runs.py);
never a second calculation. Rendering (charts, HTML, PDF) is orchestrator/console/report_mail.py;
sending on time is orchestrator/services/daily_report.py.

Each day's send is a row of daily_reports, inserted (unique day) *before* the mail goes out:
the process whose insert lands sends, any other finds the row and does nothing, so two
orchestrators never both send a day, and a restart never sends one again. A failed send is
retried MAX_ATTEMPTS times in all; a send interrupted half-way (the process died) is marked
failed and not retried by itself, because the mail may have gone out: an admin decides (send
now).
"""

from __future__ import annotations

import datetime as dt
import os
import re
from dataclasses import asdict, dataclass, field, fields
from typing import Any, cast

from sqlalchemy import CursorResult, select, update
from sqlalchemy.orm import Session

from libs.errors import StepArgumentError
from libs.secrets import Secret, reveal
from libs.steps.mail.message import addresses
from libs.steps.mail.smtp import Server
from orchestrator import kpi, runs, vault
from orchestrator.db import upsert
from orchestrator.jobs import aware, utcnow
from orchestrator.models import DailyReport, ReportSetting
from orchestrator.refusals import Conflict, Invalid
from orchestrator.settings import Settings

MAX_ATTEMPTS = 3  # sends of one day by the service, the first included
RETRY_AFTER = dt.timedelta(minutes=5)
# a send still "sending" after this long was interrupted (sending takes seconds)
INTERRUPTED_AFTER = dt.timedelta(minutes=15)
SMTP_TIMEOUT_S = 30.0
VAULT_NAME, VAULT_FIELD = "smtp", "password"  # where the console keeps the SMTP password
LANGUAGES = ("zh", "en")
_TIME = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


def _env(name: str) -> str:
    return os.environ.get(name, "")


@dataclass
class ReportSettings:
    """What the console's report form sets. SMTP defaults are the environment variables the
    mail step reads (SMTP_HOST, SMTP_PORT, SMTP_USERNAME; SMTP_PASSWORD unless the vault has
    one), so a site that set them for its robots has nothing more to set."""
    enabled: bool = False
    send_time: str = "08:00"  # in the orchestrator's zone (kpi.timezone()): yesterday's report
    recipients: list[str] = field(default_factory=list)  # '行长 <president@bank.cn>' each
    language: str = "zh"
    smtp_host: str = field(default_factory=lambda: _env("SMTP_HOST") or "127.0.0.1")
    smtp_port: int = field(default_factory=lambda: int(_env("SMTP_PORT") or 0))  # 0: 25 / 465
    smtp_username: str = field(default_factory=lambda: _env("SMTP_USERNAME"))
    smtp_starttls: bool = False
    smtp_ssl: bool = False
    from_address: str = ""  # default: the user name when it is an address

    def port(self) -> int:
        return self.smtp_port or (465 if self.smtp_ssl else 25)

    def sender(self) -> str:
        if self.from_address:
            return self.from_address
        if "@" in self.smtp_username:
            return self.smtp_username
        return "workhand@localhost"


NAMES = tuple(f.name for f in fields(ReportSettings))


def load_settings(session: Session) -> ReportSettings:
    found = ReportSettings()
    for key, value in session.execute(select(ReportSetting.key, ReportSetting.value)):
        if key in NAMES:
            setattr(found, key, value)
    return found


def check(values: dict[str, Any]) -> ReportSettings:
    """The settings a form gave, checked; Invalid with a sentence otherwise."""
    chosen = ReportSettings(**{k: v for k, v in values.items() if k in NAMES})
    if not _TIME.match(chosen.send_time):
        raise Invalid("the send time '{value}' must be HH:MM, e.g. 08:00",
                      value=chosen.send_time)
    if chosen.language not in LANGUAGES:
        raise Invalid("the language must be zh or en, not '{value}'",
                      value=chosen.language)
    if not 0 <= chosen.smtp_port <= 65535:
        raise Invalid("the SMTP port {value} must be 1 to 65535",
                      value=chosen.smtp_port)
    if chosen.smtp_ssl and chosen.smtp_starttls:
        raise Invalid("choose SSL or STARTTLS, not both")
    try:
        chosen.recipients = [str(a) for a in addresses(chosen.recipients, "recipients")]
        if len(addresses(chosen.sender(), "from address")) != 1:
            raise Invalid("the from address must be exactly one email address")
    except StepArgumentError as err:
        raise Invalid("an address is not right: {problem}", problem=err) from None
    if chosen.enabled and not chosen.recipients:
        raise Invalid("the report is enabled but has no recipient")
    return chosen


def save_settings(session: Session, chosen: ReportSettings, by: str) -> None:
    stmt = upsert(session)(ReportSetting)
    for key, value in asdict(chosen).items():
        row = {"key": key, "value": value, "updated": utcnow(), "updated_by": by}
        session.execute(stmt.values(row).on_conflict_do_update(index_elements=["key"],
                                                               set_=row))


def set_password(session: Session, settings: Settings, password: str) -> None:
    """Keep the SMTP password in the vault (credential smtp, field password), beside the
    credential's other fields and host binding, which stay as they are."""
    try:
        current = vault.reveal(session, settings, [VAULT_NAME])[VAULT_NAME]
    except vault.MissingCredentials:
        current = {}
    hosts = vault.bindings(session, [VAULT_NAME]).get(VAULT_NAME)
    vault.put(session, settings, VAULT_NAME, {**current, VAULT_FIELD: password}, hosts=hosts)


def has_vault_password(session: Session) -> bool:
    return any(row["name"] == VAULT_NAME and VAULT_FIELD in row["fields"]
               for row in vault.names(session))


def server(session: Session, settings: Settings, chosen: ReportSettings) -> Server:
    """The SMTP server to send through. The vault's password goes only to a host its
    credential is bound to (as a robot's would: libs.secrets)."""
    password = _env("SMTP_PASSWORD") or None
    if has_vault_password(session):
        fields_ = vault.reveal(session, settings, [VAULT_NAME])[VAULT_NAME]
        hosts = vault.bindings(session, [VAULT_NAME]).get(VAULT_NAME)
        secret = Secret(fields_[VAULT_FIELD], f"credentials.{VAULT_NAME}.{VAULT_FIELD}", hosts)
        password = reveal(secret, chosen.smtp_host)
    return Server(host=chosen.smtp_host, port=chosen.port(),
                  username=chosen.smtp_username or None, password=password,
                  ssl=chosen.smtp_ssl, starttls=chosen.smtp_starttls, verify_tls=True,
                  timeout=SMTP_TIMEOUT_S)


# --- the figures ---------------------------------------------------------------------------------

def figures(session: Session, settings: Settings, day: dt.date) -> dict[str, Any]:
    """Everything the report of `day` shows, from the database only (no clock), so the same
    day renders the same."""
    first = day.replace(day=1)
    return {"day": day, "month_start": first,
            "today": kpi.query(session, settings, start=day, end=day),
            "month": kpi.query(session, settings, start=first, end=day),
            "by_state": runs.states_on(session, day), "failures": runs.failures_on(session, day),
            "hours_per_fte": settings.hours_per_fte, "hourly_cost": settings.hourly_cost}


def due_day(chosen: ReportSettings, now: dt.datetime) -> dt.date | None:
    """The day whose report is due at `now`: yesterday, once the send time has passed."""
    if not chosen.enabled:
        return None
    here = aware(now).astimezone(kpi.timezone())
    hour, minute = (int(part) for part in chosen.send_time.split(":"))
    if here.time() < dt.time(hour, minute):
        return None
    return here.date() - dt.timedelta(days=1)


# --- the claims ----------------------------------------------------------------------------------

def claim(session: Session, day: dt.date, now: dt.datetime) -> bool:
    """The service's claim on a day: the first send (a new row) or a retry of a failed one
    after RETRY_AFTER, while attempts are left. True: this caller sends, no one else will."""
    if _inserted(session, {"day": day, "state": "sending", "attempts": 1, "recipients": [],
                           "message_id": "", "error": "", "by": "service", "claimed": now}):
        return True
    retried = _changed(session, update(DailyReport).where(
        DailyReport.day == day, DailyReport.state == "failed",
        DailyReport.attempts < MAX_ATTEMPTS, DailyReport.claimed <= now - RETRY_AFTER,
    ).values(state="sending", attempts=DailyReport.attempts + 1, claimed=now, error=""))
    return retried == 1


def claim_now(session: Session, day: dt.date, by: str, now: dt.datetime) -> None:
    """An admin's send now: the day is sent (again) unless a send of it is under way."""
    if _inserted(session, {"day": day, "state": "sending", "attempts": 1, "recipients": [],
                           "message_id": "", "error": "", "by": by, "claimed": now}):
        return
    taken = _changed(session, update(DailyReport).where(
        DailyReport.day == day, DailyReport.state != "sending",
    ).values(state="sending", attempts=DailyReport.attempts + 1, claimed=now, error="", by=by))
    if taken != 1:
        raise Conflict("the report of {day} is being sent right now; wait a minute",
                       day=day)


def finish(session: Session, day: dt.date, *, message_id: str = "",
           recipients: list[str] | None = None, error: str = "") -> None:
    session.execute(update(DailyReport).where(DailyReport.day == day).values(
        state="failed" if error else "sent", message_id=message_id, error=error,
        recipients=recipients or [], finished=utcnow()))


def interrupted(session: Session, now: dt.datetime) -> int:
    """Sends left "sending" by a process that died: failed, with no retry (the mail may have
    gone out; an admin can send it again)."""
    return _changed(session, update(DailyReport).where(
        DailyReport.state == "sending", DailyReport.claimed < now - INTERRUPTED_AFTER,
    ).values(state="failed", attempts=MAX_ATTEMPTS, finished=now,
             error="interrupted while sending (the orchestrator stopped); it may have gone "
                   "out: use send now to send it again"))


def _changed(session: Session, stmt: Any) -> int:
    """How many rows an UPDATE changed."""
    return int(cast(CursorResult[Any], session.execute(stmt)).rowcount)


def _inserted(session: Session, values: dict[str, Any]) -> bool:
    """Insert a day's row unless there is one; True if this caller's row is the one. Told by
    RETURNING, as psycopg reports no row count for INSERT ... ON CONFLICT DO NOTHING."""
    stmt = upsert(session)(DailyReport).values(values).on_conflict_do_nothing(
        index_elements=["day"]).returning(DailyReport.day)
    return session.connection().execute(stmt).first() is not None


def recent(session: Session, limit: int = 30) -> list[DailyReport]:
    rows = list(session.scalars(select(DailyReport).order_by(DailyReport.day.desc())
                                .limit(limit)))
    for row in rows:
        session.expunge(row)
    return rows
