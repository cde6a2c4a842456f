"""When the database is away (a PostgreSQL restart, a dropped connection, a full pool, SQLite's
write lock held past busy_timeout), the orchestrator says so: requests answer 503 with
Retry-After, never 500, and background services log one line a round, not a traceback. The
pool drops connections a restart broke (SQLAlchemy invalidates them on the disconnect error,
and pool_pre_ping tests each before use), so the first request after the restart succeeds.

Anything else is a bug, and is not hidden behind a 503: the caller gets a 500 with a sentence
and a reference, the log gets the traceback."""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
import uuid

import psycopg
from fastapi import Request
from fastapi.responses import Response
from sqlalchemy import exc as sa_exc

from orchestrator.guard import error

log = logging.getLogger("workhand.orchestrator")
# A restarted PostgreSQL takes connections again within about a second (measured: the first
# request after `pg_ctl start` returned succeeded; docs/orchestrator.md, Outages).
RETRY_AFTER_S = 1


def unavailable(err: BaseException) -> bool:
    """Whether the error (or one it was raised from) means the database cannot be reached or
    is too busy just now: the same request may well succeed when sent again."""
    current: BaseException | None = err
    for _ in range(8):  # a chain of causes, not a loop of them
        if current is None:
            return False
        if _unavailable(current):
            return True
        current = current.__cause__  # SQLAlchemy raises its errors from the driver's
    return False


def _unavailable(err: BaseException) -> bool:
    if isinstance(err, sa_exc.TimeoutError | sa_exc.DisconnectionError):  # pool full; ping
        return True
    if isinstance(err, sa_exc.DBAPIError):
        return err.connection_invalidated or (err.orig is not None and _unavailable(err.orig))
    # psycopg: every OperationalError is the server's state (shutting down, starting up,
    # refused, too many connections, a lock or statement timeout), never a wrong query
    if isinstance(err, psycopg.OperationalError | psycopg.InterfaceError):
        return True
    # SQLite's OperationalError also means "no such table" (a bug): only the lock is busy
    return isinstance(err, sqlite3.OperationalError) and (
        "locked" in str(err) or "busy" in str(err))


class Outage:
    """Answers 503 while the database is away, and logs that once per LOG_EVERY seconds with
    a count, not once per request (a thousand robots keep asking)."""

    LOG_EVERY = 10.0

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.count = 0  # 503s answered since the last log line
        self.total = 0
        self.logged = -self.LOG_EVERY

    def answer(self, request: Request, err: BaseException) -> Response:
        now = time.monotonic()
        with self.lock:
            self.count += 1
            self.total += 1
            due = now - self.logged >= self.LOG_EVERY
            if due:
                count, self.count, self.logged = self.count, 0, now
        if due:
            log.warning("the database is unavailable: answered 503 to %d request(s), the "
                        "latest %s %s: %s", count, request.method, request.url.path,
                        first_line(err))
        response = error(f"the database is unavailable or busy just now; send the request "
                         f"again in {RETRY_AFTER_S} s", 503)
        response.headers["Retry-After"] = str(RETRY_AFTER_S)
        return response


def bug(request: Request, err: BaseException, *, traceback: bool) -> Response:
    """A 500 with a sentence and a reference to find the traceback by, never a bare page.
    traceback=False: the server logs it itself right after (Starlette re-raises)."""
    ref = uuid.uuid4().hex[:12]
    if traceback:
        log.error("error %s: %s %s failed", ref, request.method, request.url.path,
                  exc_info=err)
    else:
        log.error("error %s: %s %s failed: %s", ref, request.method, request.url.path,
                  first_line(err))
    return error(f"the orchestrator failed on this request (an internal error, logged as "
                 f"error {ref}); please report it", 500)


def log_failure(logger: logging.Logger, what: str, err: BaseException) -> None:
    """A background service's failed round: one line when the database is away (the service
    tries again), the traceback when it is a bug."""
    if unavailable(err):
        logger.warning("%s (the database is unavailable: %s)", what, first_line(err))
    else:
        logger.error("%s", what, exc_info=err)


def first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0] if text else ''}"[:500]
