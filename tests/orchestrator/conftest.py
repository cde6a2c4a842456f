"""Orchestrator fixtures: a migrated database on SQLite (a real file) and on PostgreSQL.

PostgreSQL tests get a schema of their own (dropped afterwards), so test runs in parallel never
see each other's rows. Set WORKHAND_TEST_PG to another URL, or to "" to skip PostgreSQL (under
CI=true an unreachable or disabled PostgreSQL fails its tests instead: tests/pg.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from orchestrator.db import make_engine, migrate, session_factory
from tests.pg import pg_schema_url as pg_schema


def pg_schema_url() -> Iterator[str]:
    yield from pg_schema("t")


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
