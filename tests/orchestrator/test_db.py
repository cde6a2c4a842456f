"""SQLite write transactions in one process: one at a time, handed over at commit, rollback,
error or a closed connection (db._Writer)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import OperationalError

from orchestrator import db
from orchestrator.db import BEGAN, make_engine, session_factory


@pytest.fixture
def engine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Engine]:
    monkeypatch.setattr(db, "BUSY_S", 5.0)  # a lock never handed over fails in 5 s, not 30
    eng = make_engine(f"sqlite:///{tmp_path / 'w.db'}")
    with eng.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE n (v INTEGER)")
        conn.exec_driver_sql("INSERT INTO n VALUES (0)")
    yield eng
    eng.dispose()


def test_a_second_write_waits_for_the_first_commit(engine: Engine) -> None:
    order: list[str] = []
    first_in, second_trying = threading.Event(), threading.Event()

    def second() -> None:
        second_trying.set()
        with engine.begin() as conn:
            order.append("second began")
            conn.exec_driver_sql("UPDATE n SET v = v * 10")

    with engine.begin() as conn:
        conn.exec_driver_sql("UPDATE n SET v = v + 1")
        first_in.set()
        thread = threading.Thread(target=second)
        thread.start()
        second_trying.wait()
        order.append("first commits")
    thread.join(timeout=10)
    assert order == ["first commits", "second began"]
    with engine.connect() as conn:
        assert conn.execute(text("SELECT v FROM n")).scalar() == 10


def test_the_lock_is_handed_over_after_rollback_error_and_close(engine: Engine) -> None:
    with pytest.raises(ZeroDivisionError), engine.begin() as conn:
        conn.exec_driver_sql("UPDATE n SET v = 99")
        raise ZeroDivisionError
    with pytest.raises(OperationalError), engine.begin() as conn:
        conn.exec_driver_sql("UPDATE no_such_table SET v = 1")
    conn = engine.connect()
    conn.begin()
    conn.exec_driver_sql("UPDATE n SET v = 98")
    conn.invalidate()  # the connection is closed under its open transaction
    conn.close()
    counted = []

    def add() -> None:
        for _ in range(25):
            with engine.begin() as c:
                c.exec_driver_sql("UPDATE n SET v = v + 1")
        counted.append(1)

    threads = [threading.Thread(target=add) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(counted) == 8  # no thread stuck behind a lock nobody holds
    with engine.connect() as conn:
        assert conn.execute(text("SELECT v FROM n")).scalar() == 200


def test_a_session_says_when_its_sqlite_transaction_has_begun(engine: Engine) -> None:
    """api/deps.py commits such a session on the event loop, and any other in the pool."""
    sessions = session_factory(engine)
    with sessions() as session:
        session.begin()
        assert not session.info.get(BEGAN)  # no statement yet: not connected
        session.execute(text("SELECT v FROM n"))
        assert session.info.get(BEGAN) == "sqlite"
        session.commit()
        assert not session.info.get(BEGAN)
