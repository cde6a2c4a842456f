"""The body guard's parts on their own: depth without parsing, cleaning a robot's text, and a
declared size refused before a byte is read."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from orchestrator.guard import CUT_DEEP, MAX_DEPTH, BodyGuard, cleaned, problem_in, too_deep
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
