"""Engines and sessions: SQLite (WAL) with no set-up, PostgreSQL by URL; migrations by Alembic."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, exc
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS = Path(__file__).parent / "migrations"
BUSY_S = 30.0  # how long a SQLite write waits for the lock before "database is locked"
# PostgreSQL connections per orchestrator process: as many as the request threads (40) and the
# services (scheduler, reaper) can use at once, so a busy moment neither waits for a connection
# nor opens and closes overflow ones (each costs a few ms of CPU on both sides).
PG_POOL_SIZE = int(os.environ.get("WORKHAND_DB_POOL_SIZE", "20"))
PG_MAX_OVERFLOW = int(os.environ.get("WORKHAND_DB_MAX_OVERFLOW", "30"))
# session.info key: the dialect's name once the session's transaction has a connection (on
# SQLite, it then holds the write lock); api/deps.py decides where the session ends by it
BEGAN = "workhand_began"


def normalise_url(url: str) -> str:
    """postgresql:// means psycopg 3 here (the driver we install)."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://"):]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    return url


def make_engine(url: str) -> Engine:
    url = normalise_url(url)
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": BUSY_S,
                                                  "check_same_thread": False})
        writer = _Writer()

        @event.listens_for(engine, "connect")
        def _pragmas(conn: Any, _: Any) -> None:
            cur = conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute(f"PRAGMA busy_timeout={int(BUSY_S * 1000)}")
            cur.close()

        @event.listens_for(engine, "begin")
        def _begin(conn: Any) -> None:
            # Take the write lock at BEGIN so two leases never both read "queued".
            raw = conn.connection.dbapi_connection
            writer.acquire(raw)
            try:
                conn.exec_driver_sql("BEGIN IMMEDIATE")
            except BaseException:
                writer.release(raw)
                raise

        # pysqlite's own transaction handling must be off for the BEGIN above to be ours.
        @event.listens_for(engine, "connect")
        def _autocommit(conn: Any, _: Any) -> None:
            conn.isolation_level = None

        writer.watch(engine.dialect)
        return engine
    engine = create_engine(url, pool_size=PG_POOL_SIZE, max_overflow=PG_MAX_OVERFLOW)
    _ping_when_idle(engine)
    return engine


def make_async_engine(url: str) -> AsyncEngine | None:
    """PostgreSQL: an asyncio engine (psycopg's async connections, a pool of its own) for the
    calls robots make all the time, run on the event loop instead of in a thread (a hand-off
    to a thread and back cost more CPU than the statement: bench/fleet.py). SQLite: None (its
    driver has no asyncio side; those calls run in the thread pool)."""
    url = normalise_url(url)
    if not url.startswith("postgresql"):
        return None
    engine = create_async_engine(url, pool_size=PG_POOL_SIZE, max_overflow=PG_MAX_OVERFLOW)
    _ping_when_idle(engine.sync_engine)
    return engine


# A pooled connection idle this long is tested before use. pool_pre_ping tested every one: a
# round trip per request (a tenth of a worker call's CPU, bench/fleet.py). A connection back in
# the pool within the last second was working then; if a restart broke it since, the request
# answers 503 (outages.py), SQLAlchemy drops every connection older than the error, and the
# caller's retry gets a fresh one.
PING_IDLE_S = 1.0
_RETURNED = "workhand_returned"  # connection record info: time.monotonic() when checked in


def _ping_when_idle(engine: Engine) -> None:
    @event.listens_for(engine, "checkin")
    def _returned(_: Any, record: Any) -> None:
        record.info[_RETURNED] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _test(raw: Any, record: Any, __: Any) -> None:
        returned = record.info.get(_RETURNED)
        if returned is None or time.monotonic() - returned < PING_IDLE_S:
            return
        try:
            engine.dialect.do_ping(raw)
        except Exception as err:  # the pool retries the checkout with a new connection
            raise exc.DisconnectionError(f"a pooled connection is broken: {err}") from err


class _Writer:
    """One SQLite write transaction at a time in this process, handed from one thread to the
    next the moment it ends. Left to SQLite, threads waiting for the write lock poll it with
    sleeps of 1, 2, 5, 10 ... 100 ms (its busy handler): with a few dozen request threads that
    put tens of milliseconds on most writes. Other processes on the same file are still kept
    apart by SQLite itself (busy_timeout)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._holder: Any = None  # the DBAPI connection whose transaction holds the lock
        self._taken_by = ""  # the thread that began that transaction, for the error below

    def acquire(self, raw: Any) -> None:
        if self._holder is raw:  # a BEGIN on the connection that holds it: SQLite refuses it
            return
        if not self._lock.acquire(timeout=BUSY_S):
            raise sqlite3.OperationalError(f"database is locked (waited {BUSY_S:g} s for a "
                                           f"transaction begun by thread {self._taken_by})")
        self._holder, self._taken_by = raw, threading.current_thread().name

    def release(self, raw: Any) -> None:
        raw = getattr(raw, "dbapi_connection", raw)  # the pool passes its own wrapper
        if raw is not None and self._holder is raw:
            self._holder = None
            self._lock.release()

    def watch(self, dialect: Any) -> None:
        """Release after every commit, rollback or close of the holding connection (the
        engine's events fire before them: too early)."""
        for name in ("do_commit", "do_rollback", "do_close"):
            def ended(raw: Any, _original: Any = getattr(dialect, name)) -> None:
                try:
                    _original(raw)
                finally:
                    self.release(raw)

            setattr(dialect, name, ended)


def migrate(engine: Engine) -> None:
    """Bring the database to the newest schema (safe to run from several processes)."""
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.exec_driver_sql("SELECT pg_advisory_xact_lock(727274)")  # one migrator at a time
        config.attributes["connection"] = conn
        command.upgrade(config, "head")


def upsert(session: Session) -> Any:
    """The dialect's INSERT, which has ON CONFLICT DO NOTHING / DO UPDATE (SQLite, PostgreSQL)."""
    return insert_for(session.get_bind().dialect.name)


def insert_for(dialect: str) -> Any:
    """upsert() by dialect name, for statements built once per dialect."""
    from sqlalchemy.dialects import postgresql, sqlite

    if dialect not in ("sqlite", "postgresql"):
        raise NotImplementedError(f"Workhand supports SQLite and PostgreSQL, not {dialect}")
    return postgresql.insert if dialect == "postgresql" else sqlite.insert


def session_factory(engine: Engine) -> sessionmaker[Session]:
    factory = sessionmaker(engine, expire_on_commit=False)
    event.listen(factory, "after_begin", _began)
    event.listen(factory, "after_transaction_end", _ended)
    return factory


def _began(session: Session, transaction: Any, connection: Any) -> None:
    session.info[BEGAN] = connection.dialect.name


def _ended(session: Session, transaction: Any) -> None:
    if transaction.parent is None:
        session.info.pop(BEGAN, None)


@contextmanager
def private_schema(url: str, prefix: str = "wh") -> Iterator[str]:
    """A PostgreSQL URL whose connections use a new, empty schema, dropped afterwards: tests and
    benchmarks share the machine's `test` database without seeing each other's rows."""
    schema = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = create_engine(normalise_url(url))
    try:
        with admin.begin() as conn:
            conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
        sep = "&" if "?" in url else "?"
        yield f"{url}{sep}options=-csearch_path%3D{schema}"
    finally:
        with contextlib.suppress(Exception), admin.begin() as conn:
            conn.exec_driver_sql(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        admin.dispose()


def connection_of(db: Session | Connection) -> Connection:
    """The Core connection to run statements on: a session's own (its pending changes flushed
    first, so the statements see them), or the connection itself."""
    if isinstance(db, Session):
        db.flush()
        return db.connection()
    return db


@contextmanager
def single(engine: Engine) -> Iterator[Connection]:
    """A connection for work whose every statement stands alone (each is atomic by itself, and
    nothing needs the statements before it to be undone with it): on PostgreSQL in autocommit,
    so a statement is one round trip instead of three (BEGIN, the statement, COMMIT); on
    SQLite, in one transaction of its own (BEGIN IMMEDIATE: the process's write lock)."""
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            yield conn
    else:
        with engine.begin() as conn:
            yield conn


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    with factory.begin() as session:
        yield session
