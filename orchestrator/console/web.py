"""What every console page shares: the signed-in person, their permission, CSRF, templates.

Pages are server-rendered Jinja2 (autoescaped: a robot's labels, messages and item ids that
carry markup show as text) with htmx for the live parts. Who may do what is decided by
orchestrator/roles.py, as for the API; a page or form names the permission it needs.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Mapping
from functools import cache
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

import jinja2
from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from markupsafe import Markup

from orchestrator import audit, kpi
from orchestrator.console import i18n
from orchestrator.jobs import aware
from orchestrator.roles import Permission, Role, may, roles_with
from orchestrator.settings import Settings
from orchestrator.web_sessions import COOKIE, SignedIn, csrf_matches, find_session

HERE = Path(__file__).parent
CSRF_FIELD = "csrf"
CSRF_HEADER = "x-csrf-token"
SAFE = frozenset({"GET", "HEAD", "OPTIONS"})


class ConsoleError(Exception):
    """A page's own refusal, shown as a page (or, to htmx, as a message): the status and a
    sentence (303: the sentence is where to go). The domain's refusals are shown the same way
    (app.py)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class NotSignedIn(Exception):
    """No session (or it ended): pages send the browser to sign in, then back."""


def _sign_in_again(request: Request) -> Response:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    if request.method not in SAFE or request.headers.get("hx-request"):
        target = "/console/"
    location = "/console/sign-in?" + urlencode({"next": target})
    if request.headers.get("hx-request"):  # htmx follows this header with a full page load
        return Response(status_code=401, headers={"HX-Redirect": location})
    return RedirectResponse(location, status_code=303)


def _person_now(request: Request) -> SignedIn | None:
    settings: Settings = request.app.state.settings
    with request.app.state.sessions.begin() as session:
        found = find_session(session, settings, request.cookies.get(COOKIE))
        if found is not None:
            session.expunge(found.user)
        return found


async def _person(request: Request) -> SignedIn:
    found = await run_in_threadpool(_person_now, request)
    if found is None:
        raise NotSignedIn()
    audit.identify(request.state, found.user.name, "user")
    if request.method not in SAFE:
        await _check_csrf(request, found.csrf)
    if found.user.must_change and request.url.path not in ("/console/password",
                                                           "/console/sign-out"):
        raise ConsoleError(303, "/console/password")
    request.state.person = found
    return found


async def _check_csrf(request: Request, expected: str) -> None:
    given = request.headers.get(CSRF_HEADER)
    if given is None:
        form = await request.form()  # cached: the route reads the same form
        value = form.get(CSRF_FIELD)
        given = value if isinstance(value, str) else None
    if not csrf_matches(expected, given):
        raise ConsoleError(403, i18n.text(
            "This form is out of date or did not come from the console (CSRF check failed); "
            "reload the page and try again.", _language(request)))


def need(permission: Permission) -> Callable[..., Any]:
    async def check(request: Request, person: SignedIn = Depends(_person)) -> SignedIn:
        role = Role(person.user.role)
        if not may(role, permission):
            allowed = ", ".join(i18n.text(r.value, person.user.language)
                                for r in roles_with(permission))
            raise ConsoleError(403, i18n.text("Your role ({role}) cannot do this; it needs "
                                              "one of: {allowed}.", person.user.language,
                                              role=i18n.text(role.value, person.user.language),
                                              allowed=allowed))
        return person

    check.permission = permission  # type: ignore[attr-defined]  # read by the route x role test
    return check


Viewer = Annotated[SignedIn, Depends(need(Permission.READ))]
Starter = Annotated[SignedIn, Depends(need(Permission.START))]
Operator = Annotated[SignedIn, Depends(need(Permission.OPERATE))]
Reviewer = Annotated[SignedIn, Depends(need(Permission.REVIEW))]
Admin = Annotated[SignedIn, Depends(need(Permission.ADMIN))]
SignedInPerson = Annotated[SignedIn, Depends(_person)]


def _language(request: Request) -> str:
    person: SignedIn | None = getattr(request.state, "person", None)
    if person is not None:
        return person.user.language
    accepted = request.headers.get("accept-language", "")
    return "en" if accepted.lower().startswith("en") else "zh"


# --- templates -------------------------------------------------------------------------------

@cache
def environment() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(HERE / "templates"),
                             autoescape=True, undefined=jinja2.StrictUndefined,
                             trim_blocks=True, lstrip_blocks=True)
    env.filters["when"] = when
    env.filters["duration"] = duration
    env.filters["number"] = number
    env.filters["stamp"] = lambda ts: "" if ts is None else when(
        dt.datetime.fromtimestamp(float(ts), dt.UTC), "%H:%M:%S")
    env.globals["may"] = lambda person, name: may(Role(person.user.role), Permission(name))
    env.globals["query"] = _query
    env.globals["number"] = number
    return env


def zone() -> dt.tzinfo:
    return kpi.timezone()


def zone_label(now: dt.datetime | None = None) -> str:
    here = (now or dt.datetime.now(dt.UTC)).astimezone(zone())
    offset = here.strftime("%z")
    return f"{kpi.timezone().key} (UTC{offset[:3]}:{offset[3:]})"


def when(value: dt.datetime | None, form: str = "%Y-%m-%d %H:%M:%S") -> str:
    return "" if value is None else aware(value).astimezone(zone()).strftime(form)


def duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def number(value: float | int | None, digits: int = 0) -> str:
    return "" if value is None else f"{value:,.{digits}f}"


def _query(args: Mapping[str, Any], **changes: Any) -> str:
    """The current filters with some changed (None drops one): links keep the view."""
    merged = {k: v for k, v in {**args, **changes}.items() if v not in (None, "")}
    return "?" + urlencode(merged, doseq=True) if merged else "?"


def render(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    person: SignedIn | None = getattr(request.state, "person", None)
    language = _language(request)

    def translate(message: str, **values: Any) -> str:
        return i18n.text(message, language, **values)

    html = environment().get_template(template).render(
        request=request, person=person, lang=language, _=translate, zone=zone_label(),
        csrf=person.csrf if person else "", path=request.url.path,
        args=dict(request.query_params), **context)
    return HTMLResponse(html, status_code=status)


def json_data(value: Any) -> Markup:
    """Data for a page's script (charts), safe inside <script type="application/json">."""
    text = json.dumps(value, ensure_ascii=False, default=str)
    return Markup(text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026"))


def error_page(request: Request, err: ConsoleError) -> Response:
    if err.status == 303:
        return RedirectResponse(str(err), status_code=303)
    if request.headers.get("hx-request"):
        return Response(str(err), status_code=err.status, media_type="text/plain")
    heading = {403: "Not allowed", 404: "Not found"}.get(err.status, "Something is wrong")
    return render(request, "error.html", status=err.status, message=str(err), heading=heading)


def not_signed_in(request: Request, err: NotSignedIn) -> Response:
    return _sign_in_again(request)
