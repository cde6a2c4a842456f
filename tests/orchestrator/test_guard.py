"""The body guard's parts on their own (depth without parsing, cleaning a robot's text, a
declared size refused before a byte is read), and the real app refusing lone surrogates."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from orchestrator import deploy, queues
from orchestrator.app import create_app
from orchestrator.auth import create_token
from orchestrator.guard import CUT_DEEP, MAX_DEPTH, BodyGuard, cleaned, problem_in, too_deep
from orchestrator.roles import Role
from orchestrator.settings import Settings


def nested(levels: int, opener: str = "[", closer: str = "]") -> bytes:
    return (opener * levels + closer * levels).encode()


def test_depth_is_measured_without_parsing() -> None:
    assert not too_deep(nested(MAX_DEPTH))
    assert too_deep(nested(MAX_DEPTH + 1))
    assert too_deep(b"[" * 20 + b'{"a":' * 50 + b"1" + b"}" * 50 + b"]" * 20)
    assert too_deep(nested(100_000))
    flat = json.dumps([[1, "[[[["] for _ in range(1000)]).encode()  # many, but shallow
    assert not too_deep(flat)
    assert not too_deep(b'["' + b"[" * 500 + b'"]')  # brackets inside a string
    assert not too_deep(b"[" * 100)  # not JSON: the route says what is wrong


def test_a_robots_text_is_cleaned() -> None:
    value = json.loads('{"m\\u0000": ["a\\u0000", NaN, "\\ud800x"], "n": 1.5}')
    assert cleaned(value) == {"m": ["a", None, "\ufffdx"], "n": 1.5}
    assert cleaned(json.loads(nested(MAX_DEPTH + 5))) == json.loads(
        nested(MAX_DEPTH).replace(b"[]", f'["{CUT_DEEP}"]'.encode()))
    assert problem_in(cleaned(value)) is None


def test_problems_name_their_place() -> None:
    assert problem_in({"inputs": {"list": [1, "x\x00"]}}).startswith("inputs.list[1] holds a NUL")
    assert "inf" in problem_in({"a": float("inf")})


def call(app: BodyGuard, headers: list[tuple[bytes, bytes]], path: str = "/api/v1/jobs"
         ) -> list[dict[str, Any]]:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        raise AssertionError("the body was read")

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": path, "query_string": b"",
             "headers": headers}
    asyncio.run(app(scope, receive, send))  # type: ignore[arg-type]
    return sent


@pytest.mark.parametrize("path,limit", [("/api/v1/jobs", 1000),
                                        ("/api/v1/jobs/7/artifacts/a.png", 5000)])
def test_a_declared_length_over_the_cap_is_refused_unread(tmp_path: Path, path: str,
                                                          limit: int) -> None:
    async def app(*_: Any) -> None:
        raise AssertionError("the app was called")

    guard = BodyGuard(app, Settings(data_dir=tmp_path, max_body_bytes=1000,
                                    max_artifact_bytes=5000))
    start, body = call(guard, [(b"content-length", str(limit + 1).encode())], path)
    assert start["status"] == 413
    assert "larger than" in json.loads(body["body"])["detail"]


# -- the real app, middleware and all ---------------------------------------------------------

SURROGATE_BODIES = [  # (method, path, raw JSON body holding a lone surrogate, sent as is)
    ("POST", "/api/v1/jobs", '{"robot": "guarded", "inputs": {"note": "\\ud800"}}'),
    ("POST", "/api/v1/jobs", '{"robot": "guarded", "inputs": {"\\udfffkey": 1}}'),
    ("POST", "/api/v1/queues", '{"name": "q2", "description": "a\\ud83d"}'),
    ("POST", "/api/v1/queues/inbox/items",
     '{"items": [{"reference": "A", "payload": {"k": "\\ud800"}}]}'),
    ("POST", "/api/v1/queues/inbox/items", '{"items": [{"reference": "\\udbff"}]}'),
    ("PUT", "/api/v1/credentials/core", '{"fields": {"user": "ops\\ud800", "password": "p"}}'),
    ("POST", "/api/v1/tokens", '{"role": "viewer", "name": "\\ud800"}'),
]


@pytest.fixture
def real_app(tmp_path: Path, sqlite_url: str) -> Iterator[tuple[TestClient, dict[str, str]]]:
    """create_app as `workhand serve` runs it (the BodyGuard included); server errors come
    back as 500 answers, not exceptions, so a refusal is told from a crash."""
    app = create_app(Settings(data_dir=tmp_path / "data", database_url=sqlite_url),
                     services=False)
    (tmp_path / "guarded.yaml").write_text("robot: guarded\nsteps:\n  - log: hi\n",
                                           encoding="utf-8")
    with app.state.sessions.begin() as session:
        deploy.deploy_robot(session, tmp_path / "guarded.yaml")
        queues.create_queue(session, "inbox")
        admin = {"Authorization": f"Bearer {create_token(session, Role.ADMIN)}"}
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client, admin


@pytest.mark.parametrize("method,path,body", SURROGATE_BODIES,
                         ids=[f"{m} {p} {n}" for n, (m, p, _) in enumerate(SURROGATE_BODIES)])
@pytest.mark.parametrize("content_type", ["application/json", None])
def test_the_real_app_refuses_a_lone_surrogate_with_a_4xx(
        real_app: tuple[TestClient, dict[str, str]], method: str, path: str, body: str,
        content_type: str | None) -> None:
    client, admin = real_app
    headers = {**admin, **({"content-type": content_type} if content_type else {})}
    answer = client.request(method, path, content=body.encode("ascii"), headers=headers)
    assert answer.status_code == 422, answer.text
    assert "surrogate" in answer.json()["detail"]
    # nothing of it was stored
    assert client.get("/api/v1/jobs", headers=admin).json() == []
    assert client.get("/api/v1/queues/inbox/items", headers=admin).json() == []
    assert client.get("/api/v1/credentials", headers=admin).json() == []
    assert [q["name"] for q in client.get("/api/v1/queues", headers=admin).json()] == ["inbox"]
