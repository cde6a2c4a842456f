"""Work queues (Blue Prism / UiPath style): named queues of items, each with a reference unique in
its queue, a JSON payload, a priority and a deadline. Items are leased one at a time to the job
of a worker, so many workers share a queue; each ends done, business exception (never retried)
or failed (system errors retried up to the queue's max_retries).

An item is leased to a job, not a worker: while the job holds a live lease (its worker
heartbeats) its item stays with it however long the item takes. Once the item's own lease has
passed and its job is no longer running (worker died, job timed out or ended), the item is taken
back as a system error of that try. A job that leases again from a queue while still holding one
of its items never reported it (a lost reply, or an earlier attempt of the job that crashed):
that item is taken back the same way.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from enum import StrEnum
from pathlib import Path
from typing import Any, cast

from sqlalchemy import CursorResult, DateTime, Select, bindparam, exists, func, select, text
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from orchestrator import imports
from orchestrator.db import connection_of
from orchestrator.jobs import aware, utcnow
from orchestrator.models import Job, Queue, QueueItem
from orchestrator.refusals import Conflict, Invalid, NotFound, Refusal
from orchestrator.states import JobState

MAX_REFERENCE = 500
MAX_ITEMS = imports.MAX_ROWS  # items one request (or one file) may add
MAX_MESSAGE = 4000
BATCH = 5000  # items per INSERT statement
OUTCOMES = ("done", "business_exception", "system_error", "in_review")


class ItemState(StrEnum):
    NEW = "new"
    IN_PROGRESS = "in_progress"
    DONE = "done"
    BUSINESS_EXCEPTION = "business_exception"
    FAILED = "failed"
    ABANDONED = "abandoned"  # given up: by people, or in progress longer than ABANDON_AFTER
    IN_REVIEW = "in_review"  # its robot handed it to people (review.request); the robot went on
    REVIEWED = "reviewed"  # approved in review: it goes on as a new item of the next queue


# An item's life, every allowed move in one place (the review's moves are checked against it,
# orchestrator/review.py):
#
#   new ──lease──► in_progress ──► done | business_exception | failed | in_review
#    ▲                  │                                                │
#    └── system error, tries left; released; retried ◄── failed,     approved ──► reviewed
#                                                         b.e., abandoned  rejected ──► b.e.
ITEM_TRANSITIONS: dict[ItemState, frozenset[ItemState]] = {
    ItemState.NEW: frozenset({ItemState.IN_PROGRESS, ItemState.ABANDONED}),
    ItemState.IN_PROGRESS: frozenset({ItemState.DONE, ItemState.BUSINESS_EXCEPTION,
                                      ItemState.FAILED, ItemState.NEW, ItemState.ABANDONED,
                                      ItemState.IN_REVIEW}),
    ItemState.DONE: frozenset(),
    ItemState.BUSINESS_EXCEPTION: frozenset({ItemState.NEW, ItemState.ABANDONED}),
    ItemState.FAILED: frozenset({ItemState.NEW, ItemState.ABANDONED}),
    ItemState.ABANDONED: frozenset({ItemState.NEW}),
    ItemState.IN_REVIEW: frozenset({ItemState.REVIEWED, ItemState.BUSINESS_EXCEPTION}),
    ItemState.REVIEWED: frozenset(),
}


def may_become(current: str, wanted: ItemState) -> bool:
    """Whether an item in state `current` may move to `wanted` (ITEM_TRANSITIONS)."""
    return wanted in ITEM_TRANSITIONS[ItemState(current)]


# An item in progress this long is stuck (its robot hangs while its job keeps the lease): it is
# abandoned, as UiPath does after about a day, and people decide (retry) what happens to it.
ABANDON_AFTER = dt.timedelta(hours=24)
CAN_ABANDON = (ItemState.NEW, ItemState.IN_PROGRESS, ItemState.FAILED,
               ItemState.BUSINESS_EXCEPTION)
CAN_RETRY = (ItemState.FAILED, ItemState.BUSINESS_EXCEPTION, ItemState.ABANDONED)


def after_system_error(attempts: int, max_retries: int) -> ItemState:
    """The retry rule: the first try plus max_retries more, then the item has failed."""
    return ItemState.NEW if attempts <= max_retries else ItemState.FAILED


def _storable(text: str, what: str) -> None:
    """Text both databases can hold: no NUL, no lone UTF-16 surrogate (JSON lets both in)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise Invalid(f"{what} is not valid Unicode (a lone surrogate \\uD8xx?)") from None
    if "\x00" in text:
        raise Invalid(f"{what} must not contain NUL characters")


def _is_pg(session: Session) -> bool:
    return session.bind is not None and session.bind.dialect.name == "postgresql"


# -- queues ---------------------------------------------------------------------------------

def create_queue(session: Session, name: str, max_retries: int = 2,
                 description: str = "", review_next: str | None = None) -> Queue:
    if (not name.strip() or name != name.strip() or "/" in name or len(name) > 200
            or any(ord(c) < 32 for c in name)):
        raise Invalid(f"queue name {name!r} must be 1-200 characters, without '/', "
                      "control characters or spaces at either end")
    _storable(name, "the queue name")
    _storable(description, "the description")
    if not 0 <= max_retries <= 100:
        raise Invalid(f"max_retries must be between 0 and 100, not {max_retries}")
    if session.get(Queue, name) is not None:
        raise Conflict(f"queue '{name}' already exists")
    if review_next == name:
        raise Invalid(f"queue '{name}' cannot send the items approved in review back into "
                      "itself: name the queue of the robot that works them (review_next)")
    if review_next is not None:
        get_queue(session, review_next)
    queue = Queue(name=name, max_retries=max_retries, description=description,
                  review_next=review_next)
    session.add(queue)
    session.flush()
    return queue


def get_queue(session: Session, name: str) -> Queue:
    queue = session.get(Queue, name)
    if queue is None:
        raise NotFound(no_queue(name, sorted(session.scalars(select(Queue.name)).all())))
    return queue


def no_queue(name: str, known: list[str]) -> str:
    return (f"no work queue '{name}' (queues: {', '.join(known) or 'none'}); create it with "
            "POST /api/v1/queues")


def stats(session: Session, queue: str) -> dict[str, int]:
    """Items per state (every state named, zeros included) and the total."""
    get_queue(session, queue)
    return all_stats(session, [queue])[queue]


def all_stats(session: Session, queues: Iterable[str] | None = None) -> dict[str, dict[str, int]]:
    query = select(QueueItem.queue, QueueItem.state, func.count()).group_by(QueueItem.queue,
                                                                            QueueItem.state)
    names = list(queues) if queues is not None else list(session.scalars(select(Queue.name)))
    if queues is not None:
        query = query.where(QueueItem.queue.in_(names))
    counts = {n: dict.fromkeys([s.value for s in ItemState], 0) for n in names}
    for name, state, count in session.execute(query):
        counts.setdefault(name, dict.fromkeys([s.value for s in ItemState], 0))[state] = count
    for row in counts.values():
        row["total"] = sum(row.values())
    return counts


def queue_view(queue: Queue, counts: Mapping[str, int]) -> dict[str, Any]:
    return {"name": queue.name, "max_retries": queue.max_retries,
            "description": queue.description, "created": aware(queue.created),
            "review_next": queue.review_next,
            "counts": dict(counts)}


def item_view(item: QueueItem) -> dict[str, Any]:
    return {"id": item.id, "queue": item.queue, "reference": item.reference,
            "payload": item.payload, "priority": item.priority, "deadline": aware(item.deadline),
            "state": item.state, "attempts": item.attempts, "job_id": item.job_id,
            "message": item.message, "worked_by": item.worked_by or [],
            "created": aware(item.created),
            "updated": aware(item.updated)}


def list_items(session: Session, queue: str, *, state: str | None = None, limit: int = 100,
               after: int = 0) -> list[QueueItem]:
    get_queue(session, queue)
    query = (select(QueueItem).where(QueueItem.queue == queue, QueueItem.id > after)
             .order_by(QueueItem.id).limit(limit))
    if state is not None:
        query = query.where(QueueItem.state == state)
    return list(session.scalars(query))


# -- adding items ---------------------------------------------------------------------------

# One statement per batch, its rows sent as ONE JSON text the database unpacks. Measured for
# 52,165 items: a multi-row INSERT ... VALUES took 9.4 s on PostgreSQL (psycopg re-parses every
# 50,000-placeholder statement) and 14.6 s on SQLite (SQLAlchemy compiles each one); this takes
# 1.4 s and 0.45 s. ON CONFLICT DO NOTHING skips references the queue already has.
_INSERT_PG = """
INSERT INTO queue_items (queue, reference, payload, priority, deadline, state, attempts,
                         message, created, updated)
SELECT :queue, e.v->>'r', e.v->'p', (e.v->>'n')::int, (e.v->>'d')::timestamptz, 'new', 0, '',
       :now, :now
FROM json_array_elements(CAST(:rows AS json)) WITH ORDINALITY AS e(v, o) ORDER BY e.o
ON CONFLICT ON CONSTRAINT uq_queue_reference DO NOTHING"""
# SQLite needs the WHERE for ON CONFLICT to parse after a SELECT.
_INSERT_SQLITE = """
INSERT INTO queue_items (queue, reference, payload, priority, deadline, state, attempts,
                         message, created, updated)
SELECT :queue, json_extract(value, '$.r'), json_extract(value, '$.p'),
       json_extract(value, '$.n'), json_extract(value, '$.d'), 'new', 0, '', :now, :now
FROM json_each(:rows) WHERE true ORDER BY key
ON CONFLICT (queue, reference) DO NOTHING"""

_INSERTS = {dialect: text(sql).bindparams(bindparam("now", type_=DateTime(timezone=True)))
            for dialect, sql in (("postgresql", _INSERT_PG), ("sqlite", _INSERT_SQLITE))}


# The checks below raise without saying which item; _rows and add_file add that.

def _reference(value: Any) -> str:
    if type(value) is not str:
        if isinstance(value, float) and value.is_integer():
            value = int(value)  # an account number Excel stored as a number
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise Invalid(f"the reference must be text, not {type(value).__name__}")
    reference = str(value).strip()
    if not reference or len(reference) > MAX_REFERENCE:
        raise Invalid(f"the reference must be 1-{MAX_REFERENCE} characters "
                      f"(got {len(reference)})")
    return reference


def _deadline(value: Any) -> dt.datetime:
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value)
        except ValueError:
            raise Invalid(f"deadline '{value}' is not an ISO date-time such as "
                          "2026-11-30T17:00:00+08:00") from None
    if not isinstance(value, dt.datetime):
        raise Invalid("the deadline must be a date-time")
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def _row(item: Any, when: Callable[[dt.datetime], Any]) -> dict[str, Any]:
    """One item in the compact shape the INSERT unpacks (r, p, n, d). Plain dicts, what JSON
    gives, take the quick path: this runs 52,165 times for one bank's inspection list."""
    if type(item) is not dict:
        if not isinstance(item, Mapping):
            raise Invalid("an item must be a map with reference and payload")
        item = dict(item)
    payload = item.get("payload") or {}
    if type(payload) is not dict:
        if not isinstance(payload, Mapping):
            raise Invalid("the payload must be a map (JSON object)")
        payload = dict(payload)
    priority = item.get("priority") or 0
    if type(priority) is not int:
        raise Invalid("the priority must be a whole number")
    deadline = item.get("deadline")
    return {"r": _reference(item.get("reference")), "p": payload, "n": priority,
            "d": None if deadline is None or deadline == "" else when(_deadline(deadline))}


def _rows(conn: Connection, items: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    when: Callable[[dt.datetime], Any] = dt.datetime.isoformat
    if conn.dialect.name != "postgresql":  # stored exactly as SQLAlchemy stores a DateTime
        from sqlalchemy.dialects.sqlite import DATETIME
        when = DATETIME().bind_processor(conn.dialect)  # type: ignore[assignment]
    rows = []
    for n, item in enumerate(items):
        try:
            rows.append(_row(item, when))
        except Refusal as err:
            raise err.reworded(f"item {n}: {err}") from None
    return rows


def _existing(conn: Connection, queue: str, references: list[str]) -> list[str]:
    found: list[str] = []
    for i in range(0, len(references), 1000):
        found += conn.scalars(select(QueueItem.reference).where(
            QueueItem.queue == queue, QueueItem.reference.in_(references[i:i + 1000])))
    return found


def _json(rows: list[dict[str, Any]]) -> str:
    try:
        data = json.dumps(rows, ensure_ascii=False, default=str, allow_nan=False)
    except ValueError:
        raise Invalid("payloads must be plain JSON: NaN and Infinity are not") from None
    if "\\u0000" in data:  # PostgreSQL text cannot hold NUL, SQLite would cut it off
        raise Invalid("references and payloads must not contain NUL characters")
    _storable(data, "a reference or payload")
    return data


_QUEUE_NAMED = select(Queue.name).where(Queue.name == bindparam("queue"))


def add_items(db: Session | Connection, queue: str, items: Iterable[Mapping[str, Any]],
              on_duplicate: str = "skip") -> dict[str, int]:
    """Add items {reference, payload, priority?, deadline?}. A reference the queue already has
    (or that repeats in `items`) is skipped and counted, or with on_duplicate="error" nothing is
    added and 409 names the duplicates. Core statements only: robots add items all the time."""
    if on_duplicate not in ("skip", "error"):
        raise Invalid(f"on_duplicate must be skip or error, not '{on_duplicate}'")
    conn = connection_of(db)
    if conn.execute(_QUEUE_NAMED, {"queue": queue}).first() is None:
        known = sorted(conn.scalars(select(Queue.name)).all())
        raise NotFound(no_queue(queue, known))
    rows = _rows(conn, items)
    if len(rows) > MAX_ITEMS:
        raise Invalid(f"{len(rows)} items is more than the {MAX_ITEMS} a request may add; "
                      "add them in parts")
    if on_duplicate == "error":
        repeated = [ref for ref, n in Counter(r["r"] for r in rows).items() if n > 1]
        clash = repeated or _existing(conn, queue, [r["r"] for r in rows])
        if clash:
            raise Conflict(f"{len(clash)} reference(s) already in queue '{queue}' or "
                           f"repeated: {', '.join(clash[:10])}"
                           f"{' ...' if len(clash) > 10 else ''}; nothing was added "
                           "(on_duplicate: skip adds the others)")
    statement = _INSERTS[conn.dialect.name]
    now, added = utcnow(), 0
    for i in range(0, len(rows), BATCH):
        batch = _json(rows[i:i + BATCH])
        result = conn.execute(statement, {"queue": queue, "now": now, "rows": batch})
        added += cast(CursorResult[Any], result).rowcount
    return {"added": added, "skipped": len(rows) - added}


def read_file(path: Path, fmt: str | None = None, sheet: str | None = None
              ) -> list[dict[str, Any]]:
    """Rows of a CSV (UTF-8, UTF-8 with BOM, GBK/GB18030: detected) or .xlsx file, read as the
    csv.read_rows / excel.read_rows steps read them, within the limits of imports.py."""
    fmt = fmt or ("xlsx" if path.suffix.lower() in (".xlsx", ".xlsm") else "csv")
    if fmt not in ("csv", "xlsx"):
        raise Invalid(f"format must be csv or xlsx, not '{fmt}'")
    return imports.read_rows(path, fmt, sheet, path.name)


def items_of_file(path: Path, reference_column: str, *, fmt: str | None = None,
                  sheet: str | None = None) -> list[dict[str, Any]]:
    """Every row of the file as an item: its reference from reference_column, the whole row as
    its payload. Needs no database: parse first, then add_items in a short transaction."""
    rows = read_file(path, fmt, sheet)
    if rows and reference_column not in rows[0]:
        raise Invalid(f"column '{reference_column}' is not in {path.name}; its columns: "
                      f"{', '.join(rows[0])}")
    items = []
    for n, row in enumerate(rows, start=2):  # row 1 is the header
        value = row.get(reference_column)
        if value is None or str(value).strip() == "":
            raise Invalid(f"{path.name} row {n}: no value in column '{reference_column}'")
        try:
            items.append({"reference": _reference(value), "payload": row})
        except Refusal as err:
            raise err.reworded(f"{path.name} row {n}: {err}") from None
    return items


def add_file(session: Session, queue: str, path: Path, reference_column: str,
             on_duplicate: str = "skip", *, fmt: str | None = None,
             sheet: str | None = None) -> dict[str, int]:
    """items_of_file, added (for callers that hold no transaction while it parses)."""
    get_queue(session, queue)
    return add_items(session, queue, items_of_file(path, reference_column, fmt=fmt,
                                                   sheet=sheet), on_duplicate)


# -- leasing and reporting --------------------------------------------------------------------

def _locked(session: Session, query: Select[Any]) -> list[QueueItem]:
    """On PostgreSQL rows another transaction is taking are skipped, not waited for. SQLite's
    transactions began with BEGIN IMMEDIATE, so they are one at a time anyway."""
    if _is_pg(session):
        query = query.with_for_update(skip_locked=True, of=QueueItem)
    return list(session.scalars(query))


def requeue_expired(session: Session, now: dt.datetime | None = None, *,
                    queue: str | None = None, limit: int = 500) -> int:
    """Items in progress whose try will never be reported go back to new, or fail when out of
    retries (the try counts as a system error): those whose lease has passed while their job
    no longer runs (the reaper calls this; a job's own unreported items go back when it leases
    another, queue_work.lease_item)."""
    now = now or utcnow()
    live = exists().where(Job.id == QueueItem.job_id, Job.state == JobState.RUNNING.value,
                          Job.lease_expires >= now)
    query = (select(QueueItem).where(QueueItem.state == ItemState.IN_PROGRESS.value,
                                     QueueItem.lease_expires < now, ~live)
             .order_by(QueueItem.id).limit(limit))
    if queue is not None:
        query = query.where(QueueItem.queue == queue)
    items = _locked(session, query)
    if not items:
        return 0
    limits = {name: n for name, n in session.execute(
        select(Queue.name, Queue.max_retries).where(Queue.name.in_({i.queue for i in items})))}
    for item in items:
        item.state = after_system_error(item.attempts, limits.get(item.queue, 0)).value
        item.message = (f"taken back: job {item.job_id} stopped without reporting it (worker "
                        "lost or job ended)")
        item.lease_expires, item.updated = None, now
        if item.state == ItemState.NEW.value:
            item.job_id = None
    return len(items)


def release_items(session: Session, job_id: int, now: dt.datetime | None = None) -> int:
    """The items in progress with a job its worker handed back (dispatch.release) go back to
    new for another job. The try did not end, so it is no system error: unlike requeue_expired the
    queue's retries are not consulted and the item never fails here. `attempts` is left as it
    is: it counts the times the item was handed out (the released one too), for audit."""
    now = now or utcnow()
    query = select(QueueItem).where(QueueItem.state == ItemState.IN_PROGRESS.value,
                                    QueueItem.job_id == job_id).order_by(QueueItem.id)
    if _is_pg(session):  # waited for, not skipped: none of the job's items may stay behind
        query = query.with_for_update(of=QueueItem)
    items = list(session.scalars(query))
    for item in items:
        _set(item, ItemState.NEW, now, f"released: job {job_id}'s worker stopped before the "
                                       "item ended; not counted as a failed try")
        item.job_id = None
    return len(items)


def abandon_stuck(session: Session, now: dt.datetime | None = None, limit: int = 500) -> int:
    """Items in progress for longer than ABANDON_AFTER become abandoned (the reaper calls it)."""
    now = now or utcnow()
    items = _locked(session, select(QueueItem)
                    .where(QueueItem.state == ItemState.IN_PROGRESS.value,
                           QueueItem.updated < now - ABANDON_AFTER)
                    .order_by(QueueItem.id).limit(limit))
    for item in items:
        _set(item, ItemState.ABANDONED, now, f"abandoned: in progress with job {item.job_id} "
                                             f"for over {ABANDON_AFTER.total_seconds() / 3600:g} "
                                             "hours; retry it to work it again")
    return len(items)


def _set(item: QueueItem, state: ItemState, now: dt.datetime, message: str | None = None
         ) -> QueueItem:
    item.state, item.lease_expires, item.updated = state.value, None, now
    if message is not None:
        item.message = message
    return item


def _item(session: Session, item_id: int) -> QueueItem:
    item = session.get(QueueItem, item_id, with_for_update=_is_pg(session))
    if item is None:
        raise NotFound(f"no queue item {item_id}")
    return item


def abandon(session: Session, item_id: int, who: str, now: dt.datetime | None = None
            ) -> QueueItem:
    """People give an item up: it is never handed out again unless retried. A robot still
    working on it is told so (409) when it reports."""
    item = _item(session, item_id)
    if ItemState(item.state) not in CAN_ABANDON:
        raise Conflict(f"queue item {item_id} ('{item.reference}') is {item.state}: only "
                       f"{', '.join(s.value for s in CAN_ABANDON)} items can be abandoned")
    return _set(item, ItemState.ABANDONED, now or utcnow(), f"abandoned by {who}")


def retry(session: Session, item_id: int, who: str, now: dt.datetime | None = None
          ) -> QueueItem:
    """A failed, business-exception or abandoned item goes back to new, with all its tries
    again (people fixed what stopped it)."""
    item = _item(session, item_id)
    if ItemState(item.state) not in CAN_RETRY:
        raise Conflict(f"queue item {item_id} ('{item.reference}') is {item.state}: only "
                       f"{', '.join(s.value for s in CAN_RETRY)} items can be retried")
    item.attempts, item.job_id = 0, None
    return _set(item, ItemState.NEW, now or utcnow(), f"retried by {who}")
