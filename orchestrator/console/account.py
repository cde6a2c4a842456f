"""Signing in and out, choosing one's password and language."""

from __future__ import annotations

import secrets
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from starlette.routing import Match

from orchestrator import audit, people
from orchestrator.api.statuses import status_of
from orchestrator.console import i18n
from orchestrator.console.web import CSRF_FIELD, SignedInPerson, render
from orchestrator.refusals import Refusal, TooManyTries
from orchestrator.settings import Settings
from orchestrator.web_sessions import COOKIE, close_session, csrf_matches, open_session

router = APIRouter(prefix="/console", include_in_schema=False)
# Signing in has no session yet to hold a CSRF token: the form's token is matched against a
# cookie set with the form (double submit), so another site cannot sign a browser in.
SIGN_IN_COOKIE = "workhand_sign_in"


def _next(target: str | None) -> str:
    """Only a path inside the console: never another site (an open redirect)."""
    if not target:
        return "/console/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not parts.path.startswith("/console/") \
            or target.startswith("//"):
        return "/console/"
    return target


def _address(request: Request) -> str:
    return request.client.host if request.client else ""


def _secure(request: Request) -> bool:
    return request.url.scheme == "https"


@router.get("/sign-in")
def sign_in_page(request: Request, next: str | None = None, error: str = "",
                 status: int = 200) -> Response:
    token = secrets.token_urlsafe(24)
    answer = render(request, "sign_in.html", status=status, next=_next(next), error=error,
                    sign_in_token=token)
    answer.set_cookie(SIGN_IN_COOKIE, token, httponly=True, samesite="strict",
                      secure=_secure(request), path="/console/sign-in", max_age=3600)
    return answer


@router.post("/sign-in")
def sign_in(request: Request, name: Annotated[str, Form(max_length=100)],
            password: Annotated[str, Form(max_length=1000)],
            csrf: Annotated[str, Form(alias=CSRF_FIELD, max_length=100)] = "",
            next: Annotated[str, Form(max_length=2000)] = "") -> Response:
    language = "en" if request.headers.get("accept-language", "").startswith("en") else "zh"
    audit.identify(request.state, name, "user")
    if not csrf_matches(request.cookies.get(SIGN_IN_COOKIE, ""), csrf):
        audit.note(request.state, detail="the sign-in form's CSRF token did not match")
        return sign_in_page(request, next, i18n.text(
            "This form is out of date or did not come from the console (CSRF check failed); "
            "reload the page and try again.", language), status=403)
    settings: Settings = request.app.state.settings
    refused: Refusal | None = None
    with request.app.state.sessions.begin() as session:  # failures are kept: throttling
        try:
            user = people.authenticate(session, name, password, _address(request))
            cookie = open_session(session, settings, user, _address(request))
        except Refusal as err:
            refused = err
    if refused is not None:
        audit.note(request.state, detail=str(refused))
        return sign_in_page(request, next, _refusal(refused, language), status=status_of(refused))
    answer = RedirectResponse("/console/password" if user.must_change else _next(next),
                              status_code=303)
    answer.set_cookie(COOKIE, cookie, httponly=True, samesite="lax", secure=_secure(request),
                      path="/", max_age=int(settings.session_hours * 3600))
    answer.delete_cookie(SIGN_IN_COOKIE, path="/console/sign-in")
    return answer


def _refusal(err: Refusal, language: str) -> str:
    if isinstance(err, TooManyTries):
        return i18n.text("Too many failed sign-ins; try again in {minutes} minute(s), or ask "
                         "an admin to set a new password.", language, minutes=err.minutes)
    return i18n.text(str(err), language)


@router.post("/sign-out")
def sign_out(request: Request, person: SignedInPerson) -> Response:
    with request.app.state.sessions.begin() as session:
        close_session(session, person.digest)
    answer = RedirectResponse("/console/sign-in", status_code=303)
    answer.delete_cookie(COOKIE, path="/")
    return answer


@router.get("/password")
def password_page(request: Request, person: SignedInPerson) -> Response:
    return render(request, "password.html", error="", done=False)


@router.post("/password")
def change_password(request: Request, person: SignedInPerson,
                    current: Annotated[str, Form(max_length=1000)],
                    new: Annotated[str, Form(max_length=1000)],
                    again: Annotated[str, Form(max_length=1000)]) -> Response:
    language = person.user.language
    if new != again:
        return render(request, "password.html", status=422, done=False,
                      error=i18n.text("The two new passwords differ.", language))
    settings: Settings = request.app.state.settings
    with request.app.state.sessions.begin() as session:
        user = people.get_user(session, person.user.name)
        if not people.matches(user.password_hash, current):
            return render(request, "password.html", status=422, done=False,
                          error=i18n.text("The current password is wrong.", language))
        try:
            people.set_password(session, user, new)  # ends every session of theirs...
        except Refusal as err:
            return render(request, "password.html", status=422, done=False,
                          error=_password_problem(err, language))
        cookie = open_session(session, settings, user, _address(request))  # ...but this one
    answer = RedirectResponse("/console/", status_code=303)
    answer.set_cookie(COOKIE, cookie, httponly=True, samesite="lax", secure=_secure(request),
                      path="/", max_age=int(settings.session_hours * 3600))
    return answer


def _password_problem(err: Refusal, language: str) -> str:
    message = str(err)
    if message.startswith("the password has "):
        count = message.split()[3]
        return i18n.text("the password has {count} characters; it needs at least {least}",
                         language, count=count, least=people.MIN_PASSWORD)
    return i18n.text(message, language)


@router.post("/language")
def set_language(request: Request, person: SignedInPerson,
                 language: Annotated[str, Form(max_length=10)]) -> Response:
    if language not in people.LANGUAGES:
        language = "zh"
    with request.app.state.sessions.begin() as session:
        people.get_user(session, person.user.name).language = language
    back = urlsplit(request.headers.get("referer") or "/console/")
    if not _a_page(request, back.path):  # e.g. the answer to a form: /console/report/send
        return RedirectResponse("/console/", status_code=303)
    return RedirectResponse(_next(back.path + (f"?{back.query}" if back.query else "")),
                            status_code=303)


def _a_page(request: Request, path: str) -> bool:
    """Whether the console answers GET at this path (a page the browser can go back to)."""
    scope = {"type": "http", "path": path, "method": "GET"}
    return any(route.matches(scope)[0] is Match.FULL for route in request.app.routes)
