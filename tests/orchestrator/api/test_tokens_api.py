"""Token routes: admins list, create and revoke tokens; a revoked token is refused; whoami."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from orchestrator import auth
from orchestrator.api import deps
from orchestrator.app import create_app
from orchestrator.auth import create_token
from orchestrator.roles import Role
from orchestrator.settings import Settings

Headers = dict[str, str]


@pytest.fixture
def client(tmp_path: Path, db_url: str) -> Iterator[TestClient]:
    app = create_app(Settings(data_dir=tmp_path / "data", database_url=db_url), services=False)
    with app.state.sessions.begin() as session:
        app.state.admin = {"Authorization": f"Bearer {create_token(session, Role.ADMIN)}"}
        app.state.operator = {"Authorization":
                              f"Bearer {create_token(session, Role.OPERATOR, 'ops')}"}
    with TestClient(app) as test_client:
        yield test_client


def admin(client: TestClient) -> Headers:
    return client.app.state.admin  # type: ignore[attr-defined,no-any-return]


def bearer(token: str) -> Headers:
    return {"Authorization": f"Bearer {token}"}


def test_create_list_revoke(client: TestClient) -> None:
    made = client.post("/api/v1/tokens", headers=admin(client), json={
        "role": "worker", "name": "分行 PC", "worker": "branch-pc-01",
        "labels": ["desktop", "restricted", "desktop"]})
    assert made.status_code == 201, made.text
    created = made.json()
    token = created.pop("token")
    assert token.startswith("wh_worker_")
    assert (created["worker"], created["labels"], created["revoked"]) == (
        "branch-pc-01", ["desktop", "restricted"], False)
    me = client.get("/api/v1/whoami", headers=bearer(token)).json()
    assert me == {"role": "worker", "name": "分行 PC", "worker": "branch-pc-01",
                  "labels": ["desktop", "restricted"]}
    listed = client.get("/api/v1/tokens", headers=admin(client))
    assert listed.status_code == 200
    assert {t["id"]: t["role"] for t in listed.json()}[created["id"]] == "worker"
    assert token not in listed.text and auth.digest(token) not in listed.text  # never shown
    assert all(set(t) == {"id", "name", "role", "worker", "labels", "created", "revoked"}
               for t in listed.json())

    assert client.get("/api/v1/whoami", headers=bearer(token)).status_code == 200  # cached
    revoked = client.post(f"/api/v1/tokens/{created['id']}/revoke", headers=admin(client))
    assert revoked.status_code == 200 and revoked.json()["revoked"] is True
    # refused at once by this process, although it was in the 5 s cache
    refused = client.get("/api/v1/whoami", headers=bearer(token))
    assert refused.status_code == 401 and "revoked" in refused.json()["detail"]
    again = client.post(f"/api/v1/tokens/{created['id']}/revoke", headers=admin(client))
    assert again.status_code == 200  # revoking twice is harmless
    assert client.post("/api/v1/tokens/999999/revoke",
                       headers=admin(client)).status_code == 404


def test_a_token_revoked_elsewhere_is_refused_once_the_cache_lapses(client: TestClient) -> None:
    """The CLI revokes in the database; this process refuses the token once it looks it up
    again (the cache is cleared here in place of waiting TOKEN_TTL_S)."""
    app = client.app
    with app.state.sessions.begin() as session:  # type: ignore[attr-defined]
        row, token = auth.new_token(session, Role.VIEWER, "auditor")
    assert client.get("/api/v1/whoami", headers=bearer(token)).status_code == 200
    with app.state.sessions.begin() as session:  # type: ignore[attr-defined]
        auth.revoke_token(session, row.id)
    deps._known.clear()
    assert client.get("/api/v1/jobs", headers=bearer(token)).status_code == 401


def test_a_cached_token_revoked_elsewhere_is_refused_once_revocations_are_read(
        client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    """Cached tokens stay cached; the revoked ids are read again every TOKEN_TTL_S (0 here)."""
    app = client.app
    with app.state.sessions.begin() as session:  # type: ignore[attr-defined]
        row, token = auth.new_token(session, Role.WORKER, worker="pc-1")
    assert client.get("/api/v1/whoami", headers=bearer(token)).status_code == 200
    with app.state.sessions.begin() as session:  # type: ignore[attr-defined]
        auth.revoke_token(session, row.id)
    assert token in deps._known  # no lookup of its own is needed to refuse it
    monkeypatch.setattr(deps, "TOKEN_TTL_S", 0.0)
    answer = client.get("/api/v1/whoami", headers=bearer(token))
    assert answer.status_code == 401 and token not in deps._known


def test_only_admins_manage_tokens(client: TestClient) -> None:
    operator = client.app.state.operator  # type: ignore[attr-defined]
    assert client.get("/api/v1/tokens", headers=operator).status_code == 403
    assert client.post("/api/v1/tokens", headers=operator,
                       json={"role": "admin"}).status_code == 403
    assert client.post("/api/v1/tokens/1/revoke", headers=operator).status_code == 403
    assert client.get("/api/v1/tokens").status_code == 401
    assert client.get("/api/v1/whoami", headers=operator).json()["role"] == "operator"


@pytest.mark.parametrize(("body", "message"), [
    ({"role": "worker"}, "a worker token is for one worker"),
    ({"role": "worker", "worker": " pc "}, "a worker token is for one worker"),
    ({"role": "viewer", "worker": "pc"}, "only worker tokens have a worker name"),
    ({"role": "operator", "labels": ["x"]}, "only worker tokens have a worker name"),
    ({"role": "worker", "worker": "pc", "labels": ["a,b"]}, "label 'a,b' must be"),
    ({"role": "job"}, ""), ({"role": "admin", "surprise": 1}, ""),
])
def test_bad_tokens_are_refused_with_a_sentence(client: TestClient, body: dict[str, object],
                                                message: str) -> None:
    answer = client.post("/api/v1/tokens", headers=admin(client), json=body)
    assert answer.status_code == 422, answer.text
    assert message in str(answer.json()["detail"])
