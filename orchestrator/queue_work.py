"""A job's work with a queue, called by its robot for every item: lease the next item, report
how it ended. A third of a fleet's calls (bench/fleet.py), so each is a few Core statements
built once per dialect, no ORM objects, in one transaction.

Both check first that the job's attempt holds its lease, reading the job's row FOR SHARE on
PostgreSQL: the job cannot end (complete, release, the reaper) until this transaction has
committed, so an item leased or reported here is seen by whatever ends the job (its KPI counts
the job's item rows; its items in progress are taken back).
"""

from __future__ import annotations

import datetime as dt
from typing import Any, cast

from sqlalchemy import CursorResult, Row, Table, bindparam, func, select, text, update
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from orchestrator.db import connection_of
from orchestrator.jobs import refusal, utcnow
from orchestrator.models import Job, JobItem, Queue, QueueItem
from orchestrator.queues import MAX_MESSAGE, OUTCOMES, ItemState, after_system_error, no_queue
from orchestrator.refusals import Conflict, Invalid, NotFound

ITEMS: Table = QueueItem.__table__  # type: ignore[assignment]
JOB_ITEMS: Table = JobItem.__table__  # type: ignore[assignment]
JOBS: Table = Job.__table__  # type: ignore[assignment]
_NEW, _IN_PROGRESS = ItemState.NEW.value, ItemState.IN_PROGRESS.value
_TIME = ITEMS.c.updated.type
_LEASED = (ITEMS.c.id, ITEMS.c.reference, ITEMS.c.payload, ITEMS.c.attempts)


class Statements:
    def __init__(self, dialect: str) -> None:
        postgres = dialect == "postgresql"
        self.hold = select(JOBS.c.id, JOBS.c.state, JOBS.c.worker, JOBS.c.attempt).where(
            JOBS.c.id == bindparam("job_id"))
        self.item = select(ITEMS.c.id, ITEMS.c.queue, ITEMS.c.reference, ITEMS.c.state,
                           ITEMS.c.attempts, ITEMS.c.job_id, ITEMS.c.worked_by).where(
            ITEMS.c.id == bindparam("item_id"))
        if postgres:
            self.hold = self.hold.with_for_update(read=True)
            self.item = self.item.with_for_update()
        # the job's own items still in progress when it asks for another: never reported, so
        # each try counts as a system error (new again while the queue's retries allow)
        again = ("attempts <= (SELECT max_retries FROM queues "
                 "WHERE queues.name = queue_items.queue)")
        self.take_back = text(
            f"UPDATE queue_items SET state = CASE WHEN {again} THEN '{_NEW}' ELSE 'failed' END, "
            f"job_id = CASE WHEN {again} THEN NULL ELSE job_id END, message = :why, "
            "lease_expires = NULL, updated = :now "
            f"WHERE job_id = :job_id AND state = '{_IN_PROGRESS}' AND queue = :queue"
        ).bindparams(bindparam("now", type_=_TIME))
        pair = ("(COALESCE(worked_by::jsonb, '[]'::jsonb) || jsonb_build_array(jsonb_build_array("
                "CAST(:job_id AS bigint), CAST(:attempt AS integer))))::json" if postgres else
                "json_insert(COALESCE(worked_by, '[]'), '$[#]', json_array(:job_id, :attempt))")
        target = ("(SELECT id FROM queue_items WHERE queue = :queue AND state = 'new' "
                  "ORDER BY priority DESC, deadline ASC NULLS LAST, id LIMIT 1 "
                  "FOR UPDATE SKIP LOCKED)" if postgres else ":item_id")
        self.take = text(
            f"UPDATE queue_items SET state = '{_IN_PROGRESS}', job_id = :job_id, "
            f"attempts = attempts + 1, worked_by = {pair}, lease_expires = :expires, "
            f"updated = :now WHERE id = {target} AND state = 'new' "
            "RETURNING id, reference, payload, attempts"
        ).bindparams(bindparam("expires", type_=_TIME), bindparam("now", type_=_TIME)
                     ).columns(*_LEASED)
        # SQLite cannot walk an index for NULLS LAST (it sorts the whole priority group: 25 ms
        # at 52,165 items), so: the top priority, then its earliest deadline, else its oldest
        new = (ITEMS.c.queue == bindparam("queue")) & (ITEMS.c.state == _NEW)
        self.top = select(func.max(ITEMS.c.priority)).where(new)
        group = select(ITEMS.c.id).where(new, ITEMS.c.priority == bindparam("top"))
        self.first_due = (group.where(ITEMS.c.deadline.is_not(None))
                          .order_by(ITEMS.c.deadline, ITEMS.c.id).limit(1))
        self.first_in = group.where(ITEMS.c.deadline.is_(None)).order_by(ITEMS.c.id).limit(1)
        self.retries = select(Queue.max_retries).where(Queue.name == bindparam("queue"))
        # (SQLAlchemy keeps a column's own name for its value: hence the b_ names)
        self.end = update(ITEMS).where(ITEMS.c.id == bindparam("b_item")).values(
            state=bindparam("b_state"), job_id=bindparam("b_holder"),
            message=bindparam("b_message"), lease_expires=None,
            updated=bindparam("b_now", type_=_TIME))
        # the job's row for the item (what the KPI counts when the job ends): written when the
        # outcome is taken, so an item counts once, for the job whose report was taken
        tries = JOB_ITEMS.c.worked_by.type
        self.update_row = update(JOB_ITEMS).where(
            JOB_ITEMS.c.job_id == bindparam("b_job"),
            JOB_ITEMS.c.queue_item_id == bindparam("b_item")).values(
            outcome=bindparam("b_outcome"), message=bindparam("b_message"),
            attempts=bindparam("b_attempts"), worked_by=bindparam("b_tries", type_=tries))
        self.insert_row = text(  # for a job that exists (callers other than the route)
            "INSERT INTO job_items (job_id, queue_item_id, reference, outcome, message, "
            "attempts, duration_ms, worked_by) SELECT :b_job, :b_item, :b_reference, "
            ":b_outcome, :b_message, :b_attempts, 0, :b_tries FROM jobs WHERE id = :b_job"
        ).bindparams(bindparam("b_tries", type_=tries))


_statements: dict[str, Statements] = {}


def _sql(db: Session | Connection) -> tuple[Connection, Statements]:
    conn = connection_of(db)
    dialect = conn.dialect.name
    if dialect not in _statements:
        _statements[dialect] = Statements(dialect)
    return conn, _statements[dialect]


def hold(db: Session | Connection, job_id: int, worker: str, attempt: int) -> None:
    """409 unless this worker holds the job's attempt (404: no such job)."""
    conn, run = _sql(db)
    problem = refusal(conn.execute(run.hold, {"job_id": job_id}).first(), job_id, worker,
                      attempt)
    if problem is not None:
        raise problem


def lease_item(db: Session | Connection, queue: str, job_id: int, lease_s: float,
               now: dt.datetime | None = None, attempt: int = 0) -> Row[Any] | None:
    """The next new item (highest priority, then earliest deadline, then oldest), now in
    progress for this job's attempt (kept in its worked_by): its id, reference, payload and
    attempts; None when the queue has none. The job's items still in progress go back first
    (it asks for another, so it will never report them). Items whose job stopped without
    reporting them are the reaper's (services/reaper.py, every 2 s)."""
    conn, run = _sql(db)
    now = now or utcnow()
    conn.execute(run.take_back, {
        "job_id": job_id, "queue": queue, "now": now,
        "why": f"taken back: job {job_id} asked for another item without reporting this one"})
    values = {"queue": queue, "job_id": job_id, "attempt": attempt, "now": now,
              "expires": now + dt.timedelta(seconds=lease_s)}
    if conn.dialect.name == "postgresql":
        item = conn.execute(run.take, values).first()
    else:  # the write lock is held (BEGIN IMMEDIATE): nothing changes between these
        top = conn.execute(run.top, values).scalar()
        found = None if top is None else (
            conn.execute(run.first_due, {**values, "top": top}).scalar()
            or conn.execute(run.first_in, {**values, "top": top}).scalar())
        item = None if found is None else conn.execute(run.take, {**values,
                                                                  "item_id": found}).first()
    if item is None and conn.execute(run.retries, values).first() is None:
        raise NotFound(no_queue(queue, sorted(conn.scalars(select(Queue.name)))))
    return item


def report(db: Session | Connection, item_id: int, job_id: int, outcome: str,
           message: str = "", now: dt.datetime | None = None) -> dict[str, Any]:
    """How the job's try of the item ended: done, business_exception (handed to people, never
    retried), system_error (retried while the queue allows) or in_review (handed to human
    review: the caller keeps the evidence, review.hand_over, in the same transaction). Only
    the holding job may say. Answers {id, queue, state, attempts}."""
    conn, run = _sql(db)
    now = now or utcnow()
    if outcome not in OUTCOMES:
        raise Invalid(f"outcome must be one of {', '.join(OUTCOMES)}, not '{outcome}'")
    item = conn.execute(run.item, {"item_id": item_id}).first()
    if item is None:
        raise NotFound(f"no queue item {item_id}")
    answer = {"id": item.id, "queue": item.queue, "state": item.state,
              "attempts": item.attempts}
    if _reported(item, job_id, outcome):
        return answer
    if item.state != _IN_PROGRESS or item.job_id != job_id:
        other = f" by job {item.job_id}" if item.job_id not in (None, job_id) else ""
        raise Conflict(f"queue item {item_id} ('{item.reference}') is no longer held by "
                       f"job {job_id} (it is {item.state}{other}): it was taken back or "
                       "its outcome was already reported; leave it")
    state: str = outcome
    holder: int | None = job_id
    if outcome == "system_error":
        retries = conn.execute(run.retries, {"queue": item.queue}).scalar() or 0
        state = after_system_error(item.attempts, retries).value
        holder = None if state == _NEW else job_id
    # a robot's message is kept whatever it holds: what the databases cannot store is replaced
    message = message.replace("\x00", "").encode("utf-8", "replace").decode()[:MAX_MESSAGE]
    conn.execute(run.end, {"b_item": item_id, "b_state": state, "b_holder": holder,
                           "b_message": message, "b_now": now})
    tries = [attempt for job, attempt in (item.worked_by or []) if job == job_id]
    row = {"b_job": job_id, "b_item": item_id, "b_outcome": outcome, "b_message": message,
           "b_attempts": max(1, len(tries)), "b_tries": tries, "b_reference": item.reference}
    if cast(CursorResult[Any], conn.execute(run.update_row, row)).rowcount == 0:
        conn.execute(run.insert_row, row)
    return {**answer, "state": state}


def _reported(item: Any, job_id: int, outcome: str) -> bool:
    """Whether the job's report of this outcome is already recorded: sent again because its
    reply was lost (a restart), it is answered as the first was. A system error with tries
    left made the item new again, no longer the job's: that repeat is a 409, which the robot
    leaves (the outcome was recorded all the same)."""
    if item.job_id != job_id:
        return False
    return bool(item.state == (ItemState.FAILED.value if outcome == "system_error" else outcome))

