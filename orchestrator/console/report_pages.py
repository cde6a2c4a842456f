"""日报 The daily report's page (admins): its settings, the recent sends with their state, a
preview of any day (the HTML as mailed, its charts shown) and send now for a day."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, Response

from orchestrator import audit, report, runs
from orchestrator.api.statuses import status_of
from orchestrator.console import i18n
from orchestrator.console.web import Admin, ConsoleError, render
from orchestrator.jobs import utcnow
from orchestrator.refusals import Refusal
from orchestrator.services.daily_report import send_day

router = APIRouter(prefix="/console", include_in_schema=False)
Line = Annotated[str, Form(max_length=500)]
Box = Annotated[str | None, Form(max_length=10)]


def _day(value: str | None) -> dt.date:
    """A day asked for; by default yesterday, the day the next report is about."""
    if not value:
        return runs.today() - dt.timedelta(days=1)
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise ConsoleError(422, f"'{value}' is not a date (YYYY-MM-DD)") from None


def _page(request: Request, *, error: str = "", notice: str = "", status: int = 200,
          form: report.ReportSettings | None = None) -> Response:
    with request.app.state.sessions.begin() as session:
        chosen = form or report.load_settings(session)
        sends = report.recent(session)
        vaulted = report.has_vault_password(session)
    return render(request, "report.html", status=status, chosen=chosen, sends=sends,
                  vaulted=vaulted, error=error, notice=notice,
                  yesterday=(runs.today() - dt.timedelta(days=1)).isoformat())


def _words(request: Request, err: Refusal) -> str:
    return i18n.text(err.message, request.state.person.user.language, **err.values)


@router.get("/report")
def report_page(request: Request, person: Admin) -> Response:
    return _page(request)


@router.post("/report")
def save_report_settings(
        request: Request, person: Admin, send_time: Annotated[str, Form(max_length=5)],
        recipients: Annotated[str, Form(max_length=20_000)] = "",
        language: Annotated[str, Form(max_length=2)] = "zh", smtp_host: Line = "",
        smtp_port: Annotated[int, Form(ge=0, le=65535)] = 0, smtp_username: Line = "",
        smtp_password: Annotated[str, Form(max_length=1000)] = "", from_address: Line = "",
        enabled: Box = None, smtp_starttls: Box = None, smtp_ssl: Box = None) -> Response:
    lines = [r.strip() for r in recipients.splitlines() if r.strip()]
    values: dict[str, Any] = {"enabled": enabled is not None, "send_time": send_time.strip(),
              "recipients": lines,
              "language": language, "smtp_host": smtp_host.strip() or "127.0.0.1",
              "smtp_port": smtp_port, "smtp_username": smtp_username.strip(),
              "smtp_starttls": smtp_starttls is not None, "smtp_ssl": smtp_ssl is not None,
              "from_address": from_address.strip()}
    # never the password in the audit entry: only whether one was set
    audit.note(request.state, object="daily report settings",
               enabled=values["enabled"], recipients=len(lines),
               password_set=bool(smtp_password))
    try:
        chosen = report.check(values)
    except Refusal as err:
        return _page(request, error=_words(request, err), status=status_of(err),
                     form=report.ReportSettings(**values))
    with request.app.state.sessions.begin() as session:
        report.save_settings(session, chosen, person.user.name)
        if smtp_password:  # blank: keep the password there is
            report.set_password(session, request.app.state.settings, smtp_password)
    return _page(request, notice=i18n.text("Settings saved.", person.user.language))


@router.get("/report/preview")
def preview_report(request: Request, person: Admin,
                   day: Annotated[str | None, Query(max_length=10)] = None) -> Response:
    from orchestrator.console import report_mail

    chosen_day = _day(day)
    with request.app.state.sessions.begin() as session:
        language = report.load_settings(session).language
        data = report.figures(session, request.app.state.settings, chosen_day)
    return HTMLResponse(report_mail.render(data, language).preview)


@router.post("/report/send")
def send_report_now(request: Request, person: Admin,
                    day: Annotated[str, Form(max_length=10)]) -> Response:
    chosen_day = _day(day)
    audit.note(request.state, object=f"daily report {chosen_day}")
    try:
        with request.app.state.sessions.begin() as session:
            report.claim_now(session, chosen_day, person.user.name, utcnow())
    except Refusal as err:
        return _page(request, error=_words(request, err), status=status_of(err))
    language = person.user.language
    if send_day(request.app.state.sessions, request.app.state.settings, chosen_day):
        return _page(request, notice=i18n.text("The report of {day} was sent.", language,
                                               day=chosen_day.isoformat()))
    return _page(request, status=502, error=i18n.text(
        "The report of {day} could not be sent; the error is in the list below.", language,
        day=chosen_day.isoformat()))
