"""Waking waiting leases when jobs become leasable: within a process at commit, and across
processes through PostgreSQL's LISTEN/NOTIFY (services/listener.py). Nothing polls.

A waiting lease (api/work.py) holds no thread and no database connection: it sleeps on an
asyncio event registered here with the labels its worker has. When a transaction that made
jobs leasable commits (a new job, a retry, a released job), each job wakes the first waiting
lease that can run it (labels), oldest first — one wake per job, not every waiter — so 1,000
idle workers do not all query the database for each new job. Jobs that become leasable later
(a retry's not_before) are woken by a timer at that time.

On PostgreSQL the same transaction sends a NOTIFY (delivered only if it commits) that every
other orchestrator process on the database turns into the same wakes; the sending process
ignores its own (it woke its waiters at commit already).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import heapq
import json
import os
import threading
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.orm import Session

ORIGIN = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"  # tells this process's notifications apart
MAX_PAYLOAD = 7000  # bytes of a NOTIFY payload (PostgreSQL's limit is 8000)
Labels = frozenset[str]
ANY: None = None  # an arrival whose labels are not known: wakes every waiter


@dataclass(eq=False)
class Waiter:
    have: Labels
    loop: asyncio.AbstractEventLoop
    event: asyncio.Event = field(default_factory=asyncio.Event)
    woken_by: list[Labels | None] = field(default_factory=list)


class Arrivals:
    """The waiting leases of this process and the jobs that wake them.

    `count` goes up with every arrival: a lease notes it before it queries, and goes to sleep
    only if it has not changed since, so a job committed while it was querying is not missed."""

    def __init__(self) -> None:
        self.count = 0
        self._lock = threading.Lock()
        self._waiters: list[Waiter] = []  # oldest first
        self._due: list[tuple[float, int, Labels | None]] = []  # (epoch, n, labels): a heap
        self._timer: threading.Timer | None = None
        self._n = 0

    @property
    def waiting(self) -> int:
        return len(self._waiters)

    def notify(self, needs: Iterable[Labels | None] = (ANY,)) -> None:
        """Jobs arrived, each needing the labels given (ANY: unknown, wake everyone)."""
        wake: list[tuple[Waiter, Labels | None]] = []
        with self._lock:
            self.count += 1
            asleep = [w for w in self._waiters if not w.event.is_set()]
            for labels in needs:
                if labels is ANY:
                    wake += [(w, ANY) for w in asleep]
                    asleep = []
                    break
                match = next((w for w in asleep if labels <= w.have), None)
                if match is not None:
                    asleep.remove(match)
                    wake.append((match, labels))
        for waiter, labels in wake:
            waiter.woken_by.append(labels)
            try:
                waiter.loop.call_soon_threadsafe(waiter.event.set)
            except RuntimeError:  # its event loop has closed: nobody waits there any more
                self._drop(waiter)

    def later(self, when: dt.datetime, needs: Iterable[Labels | None]) -> None:
        """Jobs that become leasable at `when` (a retry's not_before): notify then."""
        at = when.timestamp() if when.tzinfo else when.replace(tzinfo=dt.UTC).timestamp()
        if at <= time.time():
            self.notify(needs)
            return
        with self._lock:
            for labels in needs:
                self._n += 1
                heapq.heappush(self._due, (at, self._n, labels))
            self._arm()

    def _arm(self) -> None:
        """One timer, for the earliest due arrival (called holding the lock)."""
        if self._timer is not None:
            self._timer.cancel()
        if not self._due:
            self._timer = None
            return
        delay = max(0.0, self._due[0][0] - time.time())
        self._timer = threading.Timer(delay, self._fire)
        self._timer.daemon = True
        self._timer.start()

    def _fire(self) -> None:
        now, due = time.time(), []
        with self._lock:
            while self._due and self._due[0][0] <= now + 0.001:
                due.append(heapq.heappop(self._due)[2])
            self._arm()
        if due:
            self.notify(due)

    async def wait(self, have: Iterable[str], seen: int, timeout: float) -> bool:
        """Sleep until a job this worker can run may have arrived (True), or timeout (False).
        Returns at once if anything arrived since `seen` was read."""
        waiter = Waiter(frozenset(have), asyncio.get_running_loop())
        with self._lock:
            if self.count != seen:
                return True
            self._waiters.append(waiter)
        try:
            await asyncio.wait_for(waiter.event.wait(), timeout)
            return True
        except TimeoutError:
            return bool(waiter.woken_by)  # woken just as it timed out: look once more
        except BaseException:  # the client went away: hand its wakes to the next waiters
            if waiter.woken_by:
                self.notify(waiter.woken_by)
            raise
        finally:
            self._drop(waiter)

    def _drop(self, waiter: Waiter) -> None:
        with self._lock:
            if waiter in self._waiters:
                self._waiters.remove(waiter)


arrivals = Arrivals()


# -- what a transaction announces -------------------------------------------------------------

def announce(session: Session, labels: Iterable[str] = (), *,
             at: dt.datetime | None = None) -> None:
    """A job that needs `labels` becomes leasable (at `at`, or now) when this session's
    transaction commits: waiting leases are woken then — here, and on PostgreSQL in every
    process listening on the database."""
    pending: list[tuple[Labels, dt.datetime | None]] = session.info.setdefault("arrivals", [])
    if not pending and not session.info.get("announces"):
        session.info["announces"] = True
        event.listen(session, "before_commit", _send)
        event.listen(session, "after_commit", _wake)
        event.listen(session, "after_rollback", _forget)
    pending.append((frozenset(labels), at))


def _send(session: Session) -> None:
    """PostgreSQL: NOTIFY inside the transaction, delivered to the others when it commits."""
    pending = session.info.get("arrivals")
    bind = session.get_bind()
    if not pending or session.in_nested_transaction() or bind.dialect.name != "postgresql":
        return
    for payload in payloads(pending):
        session.execute(text("SELECT pg_notify(:channel, :payload)"),
                        {"channel": channel_of(session), "payload": payload})


def _wake(session: Session) -> None:
    # after_commit also fires when a SAVEPOINT is released (the scheduler creates its job in
    # one): other transactions cannot see the job until the outermost commit.
    if session.in_nested_transaction():
        return
    deliver(session.info.pop("arrivals", []))


def _forget(session: Session) -> None:
    if not session.in_transaction():
        session.info.pop("arrivals", None)


def deliver(pending: Iterable[tuple[Labels | None, dt.datetime | None]]) -> None:
    """Wake the leases these arrivals are for: now, or by timer at their time."""
    pending = list(pending)
    now_due = [labels for labels, at in pending if at is None]
    if now_due:
        arrivals.notify(now_due)
    for labels, at in pending:
        if at is not None:
            arrivals.later(at, [labels])


# -- the NOTIFY payload -------------------------------------------------------------------------

def payloads(pending: list[tuple[Labels | None, dt.datetime | None]]) -> list[str]:
    """JSON texts of at most MAX_PAYLOAD bytes: {"o": origin, "j": [[labels, epoch|null]]}."""
    texts: list[str] = []
    chunk: list[list[Any]] = []
    size = 0
    for labels, at in pending:
        entry = [None if labels is None else sorted(labels),
                 None if at is None else round(at.timestamp(), 3)]
        cost = len(json.dumps(entry, ensure_ascii=False).encode()) + 1
        if chunk and size + cost > MAX_PAYLOAD:
            texts.append(_payload(chunk))
            chunk, size = [], 0
        if cost > MAX_PAYLOAD:  # labels too many to name: wake everyone
            entry = [None, entry[1]]
        chunk.append(entry)
        size += cost
    if chunk:
        texts.append(_payload(chunk))
    return texts


def _payload(entries: list[Any]) -> str:
    return json.dumps({"o": ORIGIN, "j": entries}, ensure_ascii=False, separators=(",", ":"))


def received(payload: str) -> None:
    """A NOTIFY from an orchestrator process (services/listener.py calls this)."""
    try:
        data = json.loads(payload)
        if data.get("o") == ORIGIN:
            return
        entries = data["j"]
        pending = [(ANY if labels is None else frozenset(labels),
                    None if at is None else dt.datetime.fromtimestamp(at, dt.UTC))
                   for labels, at in entries]
    except (ValueError, KeyError, TypeError):
        arrivals.notify()  # not ours to read: wake everyone, they will look
        return
    deliver(pending)


def channel_of(session: Session) -> str:
    """The NOTIFY channel of this database and schema: tests and benchmarks that share the
    machine's database in schemas of their own do not wake each other. Remembered with the
    pooled connection, so it is asked once per connection."""
    connection = session.connection()
    found = connection.info.get("workhand_channel")
    if found is None:
        schema = connection.execute(text("SELECT current_schema()")).scalar() or ""
        found = connection.info["workhand_channel"] = channel_for(schema)
    return str(found)


def channel_for(schema: str) -> str:
    safe = "".join(c if c.isalnum() or c == "_" else "_" for c in schema.lower())
    return f"workhand_jobs_{safe}"[:63]
