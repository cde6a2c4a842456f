"""Every route of the app × every role: what orchestrator/roles.py says is what happens.

Each API route declares the permission it needs through its token dependency, each console page
through its person dependency; this walks all of them (the app's own route list, so a new route
is walked the day it is added) with a token or a signed-in person of every role, and checks that
exactly the roles without that permission are refused (403) — and that no route is left open.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from orchestrator import people
from orchestrator.app import create_app
from orchestrator.auth import create_token
from orchestrator.roles import PEOPLE_ROLES, PERMISSIONS, Permission, Role, may
from orchestrator.settings import Settings
from orchestrator.web_sessions import COOKIE, open_session

PASSWORD = "a long enough password"
# Routes anyone may call, and why: signing in, the front-end files, the API's own schema.
OPEN = {("GET", "/console/sign-in"), ("POST", "/console/sign-in"), ("GET", "/"),
        ("GET", "/console"), ("GET", "/console/vendor/{name}"), ("GET", "/openapi.json"),
        ("GET", "/docs"), ("GET", "/docs/oauth2-redirect"), ("GET", "/redoc")}
# Routes any signed-in person (or token) may call: their own account, "who am I".
ANY_CALLER = {("POST", "/console/sign-out"), ("GET", "/console/password"),
              ("POST", "/console/password"), ("POST", "/console/language"),
              ("GET", "/api/v1/whoami")}


P = Permission
# What each route needs, as the roles put it; every route not named here is a GET that
# needs READ. (The table of who has which permission is orchestrator/roles.py.)
EXPECTED = {
    ("POST", "/api/v1/jobs"): P.START, ("POST", "/api/v1/jobs/{job_id}/cancel"): P.OPERATE,
    ("POST", "/api/v1/jobs/{job_id}/retry"): P.OPERATE,
    ("POST", "/api/v1/lease"): P.WORK, ("POST", "/api/v1/jobs/{job_id}/heartbeat"): P.WORK,
    ("POST", "/api/v1/jobs/{job_id}/events"): P.WORK,
    ("PUT", "/api/v1/jobs/{job_id}/artifacts/{name:path}"): P.WORK,
    ("POST", "/api/v1/jobs/{job_id}/complete"): P.WORK,
    ("POST", "/api/v1/jobs/{job_id}/release"): P.WORK, ("GET", "/api/v1/bundles/{digest}"): P.WORK,
    ("POST", "/api/v1/robots"): P.DEPLOY, ("POST", "/api/v1/queues"): P.OPERATE,
    ("POST", "/api/v1/queues/{name}/items"): P.OPERATE,
    ("POST", "/api/v1/queues/{name}/items/file"): P.OPERATE,
    ("POST", "/api/v1/queues/{name}/lease"): P.QUEUE,
    ("POST", "/api/v1/queue-items/{item_id}/report"): P.QUEUE,
    ("POST", "/api/v1/queue-items/{item_id}/abandon"): P.OPERATE,
    ("POST", "/api/v1/queue-items/{item_id}/retry"): P.OPERATE,
    ("PUT", "/api/v1/credentials/{name}"): P.ADMIN, ("GET", "/api/v1/credentials"): P.ADMIN,
    ("DELETE", "/api/v1/credentials/{name}"): P.ADMIN,
    ("GET", "/api/v1/tokens"): P.ADMIN, ("POST", "/api/v1/tokens"): P.ADMIN,
    ("POST", "/api/v1/tokens/{token_id}/revoke"): P.ADMIN,
    ("POST", "/console/robots/{name}/start"): P.START,
    ("POST", "/console/runs/bulk"): P.OPERATE,
    ("POST", "/console/schedules/{name}/{change}"): P.OPERATE,
    ("POST", "/console/queue-items/{item_id}/{change}"): P.OPERATE,
    ("POST", "/console/queues/{name}/upload"): P.OPERATE,
    ("POST", "/console/runs/{job_id}/cancel"): P.OPERATE,
    ("POST", "/console/runs/{job_id}/retry"): P.OPERATE,
    ("GET", "/console/audit"): P.ADMIN, ("GET", "/console/users"): P.ADMIN,
    ("POST", "/console/users"): P.ADMIN, ("POST", "/console/users/{name}/{change}"): P.ADMIN,
    ("GET", "/console/credentials"): P.ADMIN, ("POST", "/console/credentials"): P.ADMIN,
    ("GET", "/console/report"): P.ADMIN, ("POST", "/console/report"): P.ADMIN,
    ("GET", "/console/report/preview"): P.ADMIN, ("POST", "/console/report/send"): P.ADMIN,
    ("GET", "/api/v1/reviews/{review_id}"): P.REVIEW,
    ("GET", "/api/v1/reviews/{review_id}/images/{field}"): P.REVIEW,
    ("POST", "/api/v1/reviews/{review_id}/open"): P.REVIEW,
    ("POST", "/api/v1/reviews/{review_id}/decision"): P.REVIEW,
    ("POST", "/api/v1/reviews/{review_id}/approve"): P.REVIEW,
    ("GET", "/console/reviews/{review_id}"): P.REVIEW,
    ("GET", "/console/reviews/{review_id}/images/{field}"): P.REVIEW,
    ("POST", "/console/reviews/{review_id}/decide"): P.REVIEW,
    ("POST", "/console/reviews/{review_id}/approve"): P.REVIEW,
}


def permission_of(route: APIRoute) -> Permission | None:
    """The permission a route's dependencies ask for (deps._need / console need)."""
    stack = [route.dependant]
    while stack:
        dependant = stack.pop()
        found = getattr(dependant.call, "permission", None)
        if found is not None:
            return Permission(found)
        stack.extend(dependant.dependencies)
    return None


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    settings = Settings(data_dir=tmp_path / "data")
    app = create_app(settings, services=False)
    with app.state.sessions.begin() as session:
        app.state.tokens = {role: create_token(session, role, worker="w1" if role is Role.WORKER
                                               else None) for role in Role}
        app.state.cookies = {}
        for role in PEOPLE_ROLES:
            user, _ = people.create_user(session, f"{role.value}-1", role, PASSWORD)
            app.state.cookies[role] = open_session(session, settings, user, "testclient")
    yield TestClient(app)


def _api_routes(found: list[Any]) -> Iterator[APIRoute]:
    for route in found:
        if isinstance(route, APIRoute):
            yield route
        elif hasattr(route, "original_router"):  # an included router (FastAPI nests them)
            yield from _api_routes(route.original_router.routes)


def routes(client: TestClient) -> list[tuple[str, APIRoute]]:
    return [(method, route) for route in _api_routes(client.app.routes)  # type: ignore[attr-defined]
            for method in sorted(route.methods)]


def test_every_route_needs_what_its_role_should(client: TestClient) -> None:
    """No route left open, and none asking for less than it should (a viewer that can cancel
    would pass the walk below: it checks what routes ask for, this what they should ask)."""
    wrong = []
    for method, route in routes(client):
        key = (method, route.path)
        if key in OPEN | ANY_CALLER:
            continue
        should = EXPECTED.get(key, P.READ if method == "GET" else None)
        if permission_of(route) != should:
            wrong.append(f"{method} {route.path}: asks {permission_of(route)}, should {should}")
    assert wrong == []


def _url(path: str) -> str:
    # ids that name nothing: a permitted caller then gets 404/409/422, never 403
    return re.sub(r"\{[^}]+\}", lambda m: "999999" if m.group(0).endswith("id}") else "nothing",
                  path)


def _call(client: TestClient, method: str, path: str, role: Role) -> Any:
    if path.startswith("/console"):
        client.cookies.clear()
        cookie = client.app.state.cookies.get(role)  # type: ignore[attr-defined]
        if cookie is None:  # machines have no console
            return client.request(method, _url(path), follow_redirects=False)
        client.cookies.set(COOKIE, cookie)
        csrf = _csrf(client, cookie)
        return client.request(method, _url(path), headers={"X-CSRF-Token": csrf},
                              follow_redirects=False)
    client.cookies.clear()
    token = client.app.state.tokens[role]  # type: ignore[attr-defined]
    kwargs: dict[str, Any] = {"json": {}} if method in ("POST", "PUT", "PATCH") else {}
    return client.request(method, _url(path), headers={"Authorization": f"Bearer {token}"},
                          **kwargs)


def _csrf(client: TestClient, cookie: str) -> str:
    from orchestrator.web_sessions import find_session

    app = client.app
    with app.state.sessions.begin() as session:  # type: ignore[attr-defined]
        found = find_session(session, app.state.settings, cookie)  # type: ignore[attr-defined]
        assert found is not None
        return found.csrf


def test_every_route_with_every_role(client: TestClient) -> None:
    walked = 0
    wrong = []
    for method, route in routes(client):
        permission = permission_of(route)
        if permission is None:
            continue
        for role in Role:
            answer = _call(client, method, route.path, role)
            console = route.path.startswith("/console")
            if console and role is Role.WORKER:  # no person has the worker role
                allowed, refused = False, answer.status_code == 303
            else:
                allowed = may(role, permission)
                refused = answer.status_code == 403
            if allowed == refused or answer.status_code in (401, 500):
                wrong.append(f"{method} {route.path} as {role.value} (needs "
                             f"{permission.value}): {answer.status_code} {answer.text[:120]}")
            walked += 1
    assert wrong == []
    assert walked >= 6 * 45  # every guarded route (49 on 2026-12-02), six roles


def test_the_table_gives_people_no_machine_rights() -> None:
    for role in PEOPLE_ROLES:
        assert not PERMISSIONS[role] & {Permission.WORK, Permission.QUEUE}
    assert PERMISSIONS[Role.WORKER] == {Permission.WORK, Permission.QUEUE}
    assert may(Role.AUTHOR, Permission.DEPLOY) and not may(Role.OPERATOR, Permission.DEPLOY)
    assert not may(Role.OPERATOR, Permission.ADMIN)  # an operator cannot open credentials
    assert not may(Role.VIEWER, Permission.START) and not may(Role.VIEWER, Permission.OPERATE)
