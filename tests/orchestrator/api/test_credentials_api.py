"""Credentials routes: admins only (write, and see names, never values); no response carries a
value; an operator cannot open them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from orchestrator import vault
from orchestrator.api.credentials import router
from orchestrator.auth import create_token
from orchestrator.roles import Role
from orchestrator.settings import Settings

SECRET = "Zq-9931-secret-ütf"


@pytest.fixture
def client(sessions: sessionmaker[Session], tmp_path: Path,
           monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    monkeypatch.delenv(vault.KEY_ENV, raising=False)
    app = FastAPI()
    app.include_router(router)
    app.state.sessions = sessions
    app.state.settings = Settings(data_dir=tmp_path)
    with TestClient(app) as c:
        yield c


@pytest.fixture
def tokens(sessions: sessionmaker[Session]) -> dict[str, dict[str, str]]:
    with sessions.begin() as s:
        made = {role: create_token(s, role, worker="w1" if role is Role.WORKER else None)
                for role in Role}
        return {role.value: {"Authorization": f"Bearer {token}"} for role, token in made.items()}


def test_write_list_delete_never_shows_a_value(client: TestClient,
                                               tokens: dict[str, dict[str, str]]) -> None:
    seen: list[str] = []
    put = client.put("/api/v1/credentials/core_banking", headers=tokens["admin"],
                     json={"fields": {"user": "ops01", "password": SECRET}})
    assert put.status_code == 204, put.text
    seen.append(put.text)
    got = client.get("/api/v1/credentials", headers=tokens["admin"])
    assert got.status_code == 200
    seen.append(got.text)
    assert [(c["name"], c["fields"]) for c in got.json()] == [
        ("core_banking", ["password", "user"])]
    assert set(got.json()[0]) == {"name", "fields", "hosts", "updated"}
    assert got.json()[0]["hosts"] is None  # stored without hosts: any host the worker allows
    seen.append(client.get("/api/v1/credentials/core_banking", headers=tokens["admin"]).text)
    gone = client.delete("/api/v1/credentials/core_banking", headers=tokens["admin"])
    assert gone.status_code == 204
    seen.append(gone.text)
    again = client.delete("/api/v1/credentials/core_banking", headers=tokens["admin"])
    assert again.status_code == 404 and "core_banking" in again.json()["detail"]
    assert client.get("/api/v1/credentials", headers=tokens["admin"]).json() == []
    assert all(SECRET not in text and "ops01" not in text for text in seen)


@pytest.mark.parametrize(("method", "role", "code"), [
    ("put", "viewer", 403), ("put", "worker", 403), ("put", None, 401),
    ("get", "worker", 403), ("get", None, 401), ("delete", "viewer", 403),
    ("put", "operator", 403), ("get", "operator", 403), ("get", "viewer", 403),
    ("delete", "operator", 403),
])
def test_roles(client: TestClient, tokens: dict[str, dict[str, str]], method: str,
               role: str | None, code: int) -> None:
    url = "/api/v1/credentials" if method == "get" else "/api/v1/credentials/x"
    kwargs = {"json": {"fields": {"p": "v"}}} if method == "put" else {}
    got = client.request(method, url, headers=tokens[role] if role else {}, **kwargs)
    assert got.status_code == code and isinstance(got.json()["detail"], str)


def test_bad_input_is_4xx_with_a_sentence(client: TestClient,
                                          tokens: dict[str, dict[str, str]]) -> None:
    bad_name = client.put("/api/v1/credentials/two%20words", headers=tokens["admin"],
                          json={"fields": {"p": SECRET}})
    assert bad_name.status_code == 422 and "single word" in bad_name.json()["detail"]
    no_fields = client.put("/api/v1/credentials/x", headers=tokens["admin"],
                           json={"fields": {}})
    assert no_fields.status_code == 422 and "at least one field" in no_fields.json()["detail"]
    assert SECRET not in bad_name.text
    # Malformed bodies are refused without echoing what was sent (it would be the secret).
    for body in ({"fields": {"p": [SECRET]}}, {"feilds": {"p": SECRET}},
                 {"fields": {"p": SECRET}, "note": SECRET}, {"fields": SECRET}):
        got = client.put("/api/v1/credentials/x", headers=tokens["admin"], json=body)
        assert got.status_code == 422 and isinstance(got.json()["detail"], str), got.text
        assert SECRET not in got.text


def test_broken_key_is_explained(client: TestClient, tokens: dict[str, dict[str, str]]) -> None:
    settings: Settings = client.app.state.settings  # type: ignore[attr-defined]
    key_file = Path(str(settings.vault_key_file))
    key_file.parent.mkdir(parents=True, exist_ok=True)
    key_file.write_text("garbage\n")
    got = client.put("/api/v1/credentials/x", headers=tokens["admin"],
                     json={"fields": {"p": SECRET}})
    assert got.status_code == 503 and str(key_file) in got.json()["detail"]


def test_a_credential_is_bound_to_hosts(client: TestClient, sessions: sessionmaker[Session],
                                        tokens: dict[str, dict[str, str]]) -> None:
    hosts = ["ebank.bank.cn", "*.core.bank.cn", "10.0.0.0/8"]
    put = client.put("/api/v1/credentials/bank", headers=tokens["admin"],
                     json={"fields": {"user": "ops01", "password": SECRET}, "hosts": hosts})
    assert put.status_code == 204, put.text
    listed = client.get("/api/v1/credentials", headers=tokens["admin"]).json()
    assert [(c["name"], c["hosts"]) for c in listed] == [("bank", hosts)]
    with sessions.begin() as s:
        assert vault.bindings(s, ["bank", "absent"]) == {"bank": hosts}
    unbound = client.put("/api/v1/credentials/bank", headers=tokens["admin"],
                         json={"fields": {"password": SECRET}, "hosts": None})
    assert unbound.status_code == 204
    with sessions.begin() as s:
        assert vault.bindings(s, ["bank"]) == {"bank": None}


@pytest.mark.parametrize(("hosts", "says"), [
    ("ebank.bank.cn", "must be a list of host names"),
    ([1], "must be a list of host names"),
    (["ok.example"] * 51, "bound to 51 hosts; at most 50"),
    (["a" * 254], "of 1 to 253 characters"),
    (["two words"], "without spaces"),
    ([""], "of 1 to 253 characters"),
    (["bad\x00host"], "without spaces or control characters"),
])
def test_bad_hosts_are_refused(client: TestClient, tokens: dict[str, dict[str, str]],
                               hosts: object, says: str) -> None:
    got = client.put("/api/v1/credentials/bank", headers=tokens["admin"],
                     json={"fields": {"password": SECRET}, "hosts": hosts})
    assert got.status_code == 422 and says in got.json()["detail"]
    assert SECRET not in got.text
    assert client.get("/api/v1/credentials", headers=tokens["admin"]).json() == []
