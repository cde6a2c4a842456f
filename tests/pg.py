"""The machine's PostgreSQL for tests: a private schema per test (dropped afterwards).

Away from CI an unreachable server (or WORKHAND_TEST_PG="") skips the PostgreSQL tests, so a
laptop without one can still run the rest. Under CI=true it fails them: a CI run that skipped
every PostgreSQL test would go green without having tested what production runs on.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import NoReturn

import pytest
from sqlalchemy.exc import OperationalError

from orchestrator.db import private_schema

PG_URL = os.environ.get("WORKHAND_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


SERVER_FIX = ("start PostgreSQL (.ci/run does: pg_ctlcluster 15 main start) or fix "
              "WORKHAND_TEST_PG")


def unavailable(why: str, fix: str = SERVER_FIX) -> NoReturn:
    """Skip the test, or under CI=true fail it: why, then how to have PostgreSQL."""
    if in_ci():
        pytest.fail(f"{why}; under CI=true the PostgreSQL tests must run, not skip: {fix}",
                    pytrace=False)
    pytest.skip(why)


def pg_schema_url(prefix: str) -> Iterator[str]:
    """A URL whose connections use a fresh schema; the schema is dropped afterwards."""
    if not PG_URL:
        unavailable("PostgreSQL tests are disabled (WORKHAND_TEST_PG is empty)")
    try:
        with private_schema(PG_URL, prefix) as url:
            yield url
    except OperationalError as err:  # the machine's PostgreSQL is down
        unavailable(f"PostgreSQL is not reachable at {PG_URL}: {err}")
