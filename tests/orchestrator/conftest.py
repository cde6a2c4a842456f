"""Orchestrator fixtures: a migrated database on SQLite (a real file) and on PostgreSQL.

PostgreSQL tests get a schema of their own (dropped afterwards), so test runs in parallel never
see each other's rows. Set WORKHAND_TEST_PG to another URL, or to "" to skip PostgreSQL.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from orchestrator.db import make_engine, migrate, private_schema, session_factory

PG_URL = os.environ.get("WORKHAND_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")


def pg_schema_url() -> Iterator[str]:
    """A URL whose connections use a fresh schema; the schema is dropped afterwards."""
    if not PG_URL:
        pytest.skip("PostgreSQL tests disabled (WORKHAND_TEST_PG is empty)")
    try:
        with private_schema(PG_URL, "t") as url:
            yield url
    except OperationalError as err:  # pragma: no cover - the machine's PostgreSQL is down
        pytest.skip(f"PostgreSQL is not reachable at {PG_URL}: {err}")


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'workhand.db'}"


@pytest.fixture
def pg_url() -> Iterator[str]:
    yield from pg_schema_url()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Both databases: a test using this runs once on each."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'workhand.db'}"
    else:
        yield from pg_schema_url()


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    eng = make_engine(db_url)
    migrate(eng)
    yield eng
    eng.dispose()


@pytest.fixture
def sessions(engine: Engine) -> sessionmaker[Session]:
    return session_factory(engine)
