"""PostgreSQL row locks: a lease never waits for another lease's uncommitted transaction.

Many workers lease at once; on PostgreSQL each lease locks the rows it takes (FOR UPDATE), and
SKIP LOCKED lets the next lease pass over them to the next job or item. Without it a second
lease queues behind the first one's transaction (and, when that commits, finds its row gone).
Each test holds a first lease's transaction open, then leases in a second session with a short
lock_timeout: the second must answer with another job or item, not raise the lock timeout.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from orchestrator import deploy, dispatch, jobs, queue_work, queues
from orchestrator.db import make_engine, migrate, session_factory
from orchestrator.settings import Settings

ROBOT = "robot: locking\nsteps:\n  - log: hi\n"
T = TypeVar("T")


@pytest.fixture
def pg_sessions(pg_url: str) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(pg_url)
    migrate(engine)
    yield session_factory(engine)
    engine.dispose()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data", lease_seconds=30)


def while_first_is_open(sessions: sessionmaker[Session], first: Callable[[Session], T],
                        second: Callable[[Session], T]) -> tuple[T, T]:
    """first() in a transaction left open (uncommitted) while second() runs in another one,
    which gives up on any row lock after 2 s (a wait would be a lock timeout, not a result)."""
    held = sessions()
    try:
        held.begin()
        got_first = first(held)
        with sessions.begin() as other:
            other.execute(text("SET LOCAL lock_timeout = '2s'"))
            try:
                got_second = second(other)
            except OperationalError as err:
                if "lock timeout" not in str(err):
                    raise
                pytest.fail("the second lease waited for the first lease's uncommitted "
                            f"transaction (no SKIP LOCKED?) until the lock timeout: {err}")
        return got_first, got_second
    finally:
        held.rollback()
        held.close()


def test_a_second_job_lease_takes_the_next_job_without_waiting(
        pg_sessions: sessionmaker[Session], settings: Settings, tmp_path: Path) -> None:
    (tmp_path / "locking.yaml").write_text(ROBOT, encoding="utf-8")
    with pg_sessions.begin() as session:
        deploy.deploy_robot(session, tmp_path / "locking.yaml")
        ids = [jobs.create_job(session, robot="locking").id for _ in range(3)]

    def lease(worker: str) -> Callable[[Session], Any]:
        return lambda s: [j["id"] for j in dispatch.lease(s, worker=worker, labels=[],
                                                          settings=settings)]

    first, second = while_first_is_open(pg_sessions, lease("w1"), lease("w2"))
    assert first == [ids[0]]  # the oldest job, locked by the open transaction
    assert second == [ids[1]]  # the next one, at once


def test_a_second_item_lease_takes_the_next_item_without_waiting(
        pg_sessions: sessionmaker[Session]) -> None:
    with pg_sessions.begin() as session:
        queues.create_queue(session, "inbox")
        queues.add_items(session, "inbox", [{"reference": f"L-{n}"} for n in range(3)])

    def lease(job_id: int) -> Callable[[Session], Any]:
        def take(s: Session) -> str | None:
            item = queue_work.lease_item(s, "inbox", job_id, 30)
            return None if item is None else item.reference
        return take

    first, second = while_first_is_open(pg_sessions, lease(1), lease(2))
    assert (first, second) == ("L-0", "L-1")
