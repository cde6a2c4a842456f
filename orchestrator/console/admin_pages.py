"""Admins' pages: 审计 the audit log, 用户 people, 凭据 credentials (names, never values)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import Response

from orchestrator import audit, people, vault
from orchestrator.api.statuses import status_of
from orchestrator.console.web import Admin, ConsoleError, render, zone
from orchestrator.refusals import Invalid, Refusal
from orchestrator.roles import PEOPLE_ROLES, Role

router = APIRouter(prefix="/console", include_in_schema=False)
Text = Annotated[str | None, Query(max_length=200)]


def _day(value: str | None) -> dt.datetime | None:
    if not value:
        return None
    try:
        return dt.datetime.combine(dt.date.fromisoformat(value), dt.time(), zone())
    except ValueError:
        raise ConsoleError(422, f"'{value}' is not a date (YYYY-MM-DD)") from None


@router.get("/audit")
def audit_page(request: Request, person: Admin, actor: Text = None, action: Text = None,
               object: Text = None, since: Text = None, until: Text = None,
               before: Annotated[int | None, Query(ge=1)] = None) -> Response:
    end = _day(until)
    where = audit.AuditFilter(actor=actor or None, action=action or None, object=object or None,
                              since=_day(since), until=end + dt.timedelta(days=1) if end else None)
    with request.app.state.sessions.begin() as session:
        rows = audit.entries(session, where, before=before, limit=51)
    return render(request, "audit.html", rows=rows[:50], more=len(rows) > 50)


@router.get("/users")
def users_page(request: Request, person: Admin) -> Response:
    return _users(request, made=None, error="")


def _users(request: Request, made: tuple[str, str] | None, error: str,
           status: int = 200) -> Response:
    with request.app.state.sessions.begin() as session:
        users = people.list_users(session)
        for user in users:
            session.expunge(user)
    return render(request, "users.html", status=status, users=users, roles=PEOPLE_ROLES,
                  made=made, error=error)


@router.post("/users")
def create_user(request: Request, person: Admin, name: Annotated[str, Form(max_length=100)],
                role: Annotated[str, Form(max_length=20)],
                language: Annotated[str, Form(max_length=10)] = "zh") -> Response:
    try:
        with request.app.state.sessions.begin() as session:
            chosen = Role(role) if role in {r.value for r in PEOPLE_ROLES} else None
            if chosen is None:
                raise Invalid(f"'{role}' is not a role for people")
            _, password = people.create_user(session, name, chosen, language=language)
    except Refusal as err:
        return _users(request, None, str(err), status=status_of(err))
    audit.note(request.state, object=f"user {name}", role=role)
    return _users(request, (name, password), "")


@router.post("/users/{name}/{change}")
def change_user(request: Request, person: Admin, name: str, change: str) -> Response:
    if change not in ("disable", "enable", "reset"):
        raise ConsoleError(404, f"no change '{change}' (disable, enable, reset)")
    if name == person.user.name and change == "disable":
        return _users(request, None, "you cannot disable your own account", status=409)
    made = None
    with request.app.state.sessions.begin() as session:
        user = people.get_user(session, name)
        if change == "reset":
            made = (name, people.set_password(session, user))
        else:
            people.set_disabled(session, user, change == "disable")
    audit.note(request.state, object=f"user {name}")
    return _users(request, made, "")


@router.get("/credentials")
def credentials_page(request: Request, person: Admin) -> Response:
    return _credentials(request, "", "")


def _credentials(request: Request, error: str, saved: str, status: int = 200) -> Response:
    with request.app.state.sessions.begin() as session:
        rows = vault.names(session)
    return render(request, "credentials.html", status=status, rows=rows, error=error,
                  saved=saved)


@router.post("/credentials")
def set_credential(request: Request, person: Admin, name: Annotated[str, Form(max_length=200)],
                   fields: Annotated[str, Form(max_length=200_000)],
                   hosts: Annotated[str, Form(max_length=20_000)] = "") -> Response:
    """Set or rotate a credential: one `field: value` per line. The values are never shown
    again, here or anywhere."""
    values: dict[str, str] = {}
    for number, line in enumerate(fields.splitlines(), 1):
        if not line.strip():
            continue
        field, colon, value = line.partition(":")
        if not colon:
            return _credentials(request, f"line {number}: write 'field: value' (e.g. "
                                         "'password: …')", "", status=422)
        values[field.strip()] = value.strip()
    bound = [h.strip() for h in hosts.replace(",", "\n").splitlines() if h.strip()] or None
    try:
        with request.app.state.sessions.begin() as session:
            vault.put(session, request.app.state.settings, name, values, hosts=bound)
    except vault.VaultError as err:
        return _credentials(request, str(err), "", status=422)
    audit.note(request.state, object=f"credential {name}", fields=sorted(values))
    return _credentials(request, "", name)
