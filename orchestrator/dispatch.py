"""The hot path: lease jobs to a worker and record how attempts ended, many at a time.

A worker asks for as many jobs as it has free slots and, in the same request, reports the
attempts that ended since it last asked (api/work.py). Each side is a few set-based statements
(Core SQL, no ORM objects), whatever the number of jobs:

- lease: one `UPDATE … WHERE id IN (SELECT … LIMIT n [FOR UPDATE SKIP LOCKED]) RETURNING`, the
  label match done by the database, then one INSERT of the attempts and one upsert of the worker.
- finish: one read of the jobs (locked on PostgreSQL), the outcome of each decided by states.py,
  then one executemany per table and one KPI upsert per robot and day.

PostgreSQL: SKIP LOCKED lets many workers lease at once without waiting on each other. SQLite:
every transaction began with BEGIN IMMEDIATE (db.py), so leases are serialised.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    JSON,
    Row,
    Table,
    bindparam,
    cast,
    func,
    insert,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from orchestrator import arrivals, kpi, queues, states, vault
from orchestrator.auth import job_token
from orchestrator.db import insert_for
from orchestrator.jobs import aware, not_held, time_limit, utcnow
from orchestrator.models import READY, Attempt, Credential, Job, JobItem, RobotVersion, Worker
from orchestrator.refusals import Conflict, Invalid, NotFound, Refusal, Unavailable
from orchestrator.settings import Settings
from orchestrator.states import JobState

JOBS: Table = Job.__table__  # type: ignore[assignment]
ITEMS: Table = JobItem.__table__  # type: ignore[assignment]
ATTEMPTS: Table = Attempt.__table__  # type: ignore[assignment]
WORKERS: Table = Worker.__table__  # type: ignore[assignment]
MAX_BATCH = 100  # jobs per lease and endings per report
assert all(JobState.RUNNING in states.TRANSITIONS[s] for s in states.LEASABLE)


# --- what a worker needs of a robot version ----------------------------------------------

@dataclass(frozen=True)
class VersionFacts:
    file: str
    credentials: tuple[str, ...]
    savings: dict[str, Any]


# A version is named by its content's hash, so what is known of a digest never changes.
_facts: dict[str, VersionFacts] = {}


def version_facts(session: Session, digest: str) -> VersionFacts:
    facts = _facts.get(digest)
    if facts is None:
        row = session.execute(select(RobotVersion.file, RobotVersion.credentials,
                                     RobotVersion.savings)
                              .where(RobotVersion.digest == digest)).one()
        if len(_facts) > 10_000:
            _facts.clear()
        facts = _facts[digest] = VersionFacts(row.file, tuple(row.credentials or ()),
                                              dict(row.savings or {}))
    return facts


# --- the statements ------------------------------------------------------------------------

class Statements:
    """Every statement of the hot path, built once per dialect with bound parameters: building
    a SQLAlchemy statement costs more CPU than running it (and a multi-row VALUES is never
    cached), so the calls below only bind values and execute."""

    def __init__(self, dialect: str) -> None:
        postgres = dialect == "postgresql"
        self.lease = (
            update(JOBS).where(JOBS.c.id.in_(self._pick(postgres)))
            .values(state=JobState.RUNNING.value, attempt=JOBS.c.attempt + 1,
                    worker=bindparam("worker"), lease_expires=bindparam("expires"),
                    started=func.coalesce(JOBS.c.started, bindparam("now")))
            .returning(JOBS.c.id, JOBS.c.attempt, JOBS.c.robot, JOBS.c.version, JOBS.c.inputs,
                       JOBS.c.timeout_s, JOBS.c.priority, JOBS.c.skip_items, JOBS.c.labels))
        self.add_attempts = insert(ATTEMPTS)
        worker = insert_for(dialect)(WORKERS)
        self.seen = worker.on_conflict_do_update(index_elements=["name"], set_={
            name: worker.excluded[name] for name in ("labels", "last_seen", "current_job",
                                                     "slots")})
        read = select(*_READ).order_by(JOBS.c.id)
        self.read = read.where(JOBS.c.id.in_(bindparam("ids", expanding=True)))
        self.expired = (read.where(JOBS.c.state == JobState.RUNNING.value)
                        .where(JOBS.c.lease_expires < bindparam("now")).limit(500))
        if postgres:
            self.read = self.read.with_for_update()
            self.expired = self.expired.with_for_update(skip_locked=True)
        self.end_jobs = update(JOBS).where(JOBS.c.id == bindparam("b_id")).values(
            state=bindparam("b_state"), error=bindparam("b_error", type_=JSON),
            result=bindparam("b_result", type_=JSON), lease_expires=None,
            finished=bindparam("b_finished", type_=JOBS.c.finished.type),
            not_before=bindparam("b_not_before", type_=JOBS.c.not_before.type))
        self.end_attempts = update(ATTEMPTS).where(
            ATTEMPTS.c.job_id == bindparam("b_id"), ATTEMPTS.c.number == bindparam("b_number")
        ).values(finished=bindparam("b_now", type_=ATTEMPTS.c.finished.type),
                 outcome=bindparam("b_outcome"), error=bindparam("b_error", type_=JSON))
        self.free_workers = (update(WORKERS)
                             .where(WORKERS.c.name.in_(bindparam("names", expanding=True)))
                             .values(current_job=None, last_seen=bindparam("now")))
        self.add_items = insert(ITEMS)
        self.merge_items = update(ITEMS).where(ITEMS.c.id == bindparam("b_row")).values(
            outcome=bindparam("b_outcome"), message=bindparam("b_message"),
            attempts=bindparam("b_attempts"), duration_ms=bindparam("b_duration"),
            worked_by=bindparam("b_worked_by", type_=JSON))
        self.add_savings = kpi.upsert_statement(dialect)

    @staticmethod
    def _pick(postgres: bool) -> Any:
        """The ids of the first n ready jobs (priority, then age) whose labels the worker has
        (a job for `desktop` only goes to a worker that has it), read along ix_jobs_ready."""
        if postgres:  # SKIP LOCKED: concurrent leases pass over each other's rows
            return (select(JOBS.c.id).where(text(f"jobs.{READY}"))
                    .where(or_(JOBS.c.not_before.is_(None),
                               JOBS.c.not_before <= bindparam("now")))
                    .where(cast(JOBS.c.labels, JSONB).op("<@")(cast(bindparam("have_json"),
                                                                   JSONB)))
                    .order_by(JOBS.c.priority.desc(), JOBS.c.id).limit(bindparam("n"))
                    .with_for_update(skip_locked=True))
        # SQLite has no statistics unless ANALYZE ran, and without them it would sort the whole
        # backlog for each lease: INDEXED BY (which SQLAlchemy cannot say) names the index.
        return text(
            f"SELECT id FROM jobs INDEXED BY ix_jobs_ready WHERE {READY} "
            "AND (not_before IS NULL OR not_before <= :now) "
            "AND NOT EXISTS (SELECT 1 FROM json_each(jobs.labels) AS needed "
            "WHERE needed.value NOT IN (SELECT value FROM json_each(:have_json))) "
            "ORDER BY priority DESC, id LIMIT :n"
        ).bindparams(bindparam("now", type_=JOBS.c.not_before.type)).columns(JOBS.c.id)


_statements: dict[str, Statements] = {}


def sql(session: Session) -> tuple[Connection, Statements]:
    """The session's connection (Core, no ORM bookkeeping) and the statements for it."""
    connection = session.connection()
    dialect = connection.dialect.name
    if dialect not in _statements:
        _statements[dialect] = Statements(dialect)
    return connection, _statements[dialect]


# --- leasing -----------------------------------------------------------------------------

def usable_labels(labels: Collection[str], granted: Collection[str] | None) -> frozenset[str]:
    """The labels a worker leases with: those it asks with that its token grants."""
    return frozenset(labels) if granted is None else frozenset(labels) & frozenset(granted)


def lease(session: Session, *, worker: str, labels: Sequence[str], settings: Settings,
          granted: Collection[str] | None = None, max_jobs: int = 1,
          slots: int | None = None, now: dt.datetime | None = None) -> list[dict[str, Any]]:
    """Up to max_jobs of the most urgent jobs this worker can run, now leased to it, each as
    the worker needs it (credentials included: this is the only answer that carries them).

    Only labels the worker's token was granted count (`granted`; None: all it asks with), so a
    job for `restricted` reaches only workers trusted with it. Each attempt gets a job token
    (only its digest is stored) for the robot's work queues. The worker's row records when it
    asked, its labels and its `slots` (robots it runs at once; None: it did not say), in the
    upsert every lease makes anyway."""
    now = now or utcnow()
    session.flush()  # ORM changes made earlier in this transaction, before the Core UPDATE
    conn, run = sql(session)
    have = sorted(usable_labels(labels, granted))
    leased: list[Any] = []
    if max_jobs > 0:
        leased = sorted(conn.execute(run.lease, {
            "now": now, "n": min(max_jobs, MAX_BATCH), "have_json": json.dumps(have),
            "worker": worker,
            "expires": now + dt.timedelta(seconds=settings.lease_seconds)}).all(),
            key=lambda r: (-r.priority, r.id))
    tokens = [job_token() for _ in leased]
    if leased:
        conn.execute(run.add_attempts, [{"job_id": r.id, "number": r.attempt,
                                         "worker": worker, "started": now,
                                         "token_digest": hashed}
                                        for r, (_, hashed) in zip(leased, tokens, strict=True)])
    conn.execute(run.seen, {"name": worker, "labels": have, "last_seen": now,
                            "current_job": leased[0].id if leased else None, "slots": slots})
    return [{**_assignment(session, row, settings), "job_token": token}
            for row, (token, _) in zip(leased, tokens, strict=True)]


def _assignment(session: Session, row: Row[Any], settings: Settings) -> dict[str, Any]:
    facts = version_facts(session, row.version)
    # Credentials missing from the vault are left out: the runner then stops the job before any
    # step with "credential 'x' is not available" (a robot-file error, never retried).
    wanted = list(session.scalars(select(Credential.name)
                                  .where(Credential.name.in_(facts.credentials)))
                  ) if facts.credentials else []
    try:
        credentials = vault.reveal(session, settings, wanted) if wanted else {}
        credential_hosts = vault.bindings(session, wanted)
    except vault.VaultError as err:  # the lease is rolled back with this answer
        raise Unavailable(f"the vault cannot be read: {err}") from None
    return {"id": row.id, "attempt": row.attempt, "robot": row.robot, "version": row.version,
            "file": facts.file, "inputs": row.inputs, "credentials": credentials,
            # where each credential's secrets may be sent (None: any host the worker allows)
            "credential_hosts": credential_hosts,
            "timeout_s": time_limit(row.timeout_s, settings),
            "lease_seconds": settings.lease_seconds,
            # a retry of the failed items: the work items done before, which the robot skips
            "skip_items": list(row.skip_items or []),
            # what the job needs of the worker (desktop: a display of its own for the robot)
            "labels": list(row.labels or [])}


# --- how attempts end --------------------------------------------------------------------

@dataclass(frozen=True)
class Ending:
    """A worker's report of one attempt."""
    job_id: int
    worker: str
    attempt: int
    status: str  # passed | failed | cancelled | timed_out
    error: dict[str, Any] | None = None
    result: dict[str, Any] | None = None


# A running job's row (read with _READ), what it becomes, the error, the result.
Decision = tuple[Any, JobState, dict[str, Any] | None, dict[str, Any] | None]
OUTCOME_OF_STATUS = {"passed": JobState.SUCCEEDED, "cancelled": JobState.CANCELLED,
                     "timed_out": JobState.TIMED_OUT}
_READ = (JOBS.c.id, JOBS.c.state, JOBS.c.worker, JOBS.c.attempt, JOBS.c.max_attempts,
         JOBS.c.retry_delay_s, JOBS.c.retry_backoff, JOBS.c.started, JOBS.c.robot,
         JOBS.c.version, JOBS.c.cancel_requested, JOBS.c.result, JOBS.c.labels,
         # attempts handed back by a stopping worker: no tries (states.tries); an index lookup
         # of ix_attempts_job_id per job read
         select(func.count()).select_from(ATTEMPTS)
         .where(ATTEMPTS.c.job_id == JOBS.c.id, ATTEMPTS.c.outcome == states.RELEASED)
         .scalar_subquery().label("released"))


def _tries(row: Any) -> int:
    return states.tries(row.attempt, row.released)


def complete(session: Session, endings: Sequence[Ending], settings: Settings,
             now: dt.datetime | None = None) -> list[dict[str, Any]]:
    """Record how attempts ended and decide what happens next (see states.py). One answer per
    ending: {"id", "state"}, or {"id", "refused": Refusal} when it cannot be taken (Conflict:
    the worker no longer holds that attempt's lease; NotFound: no such job; Invalid: an
    unknown status); the routes put the refusal in words and a status. A
    report sent again after its answer was lost gets the job's state, and counts once."""
    now = now or utcnow()
    session.flush()
    conn, run = sql(session)
    rows = {r.id: r for r in conn.execute(run.read, {"ids": sorted({e.job_id
                                                                    for e in endings})})}
    answers: list[dict[str, Any]] = []
    decided: list[Decision] = []
    for ending in endings:
        row: Any = rows.get(ending.job_id)
        problem = _refusal(ending, row)
        if problem is None and any(d[0].id == ending.job_id for d in decided):
            problem = Conflict(f"job {ending.job_id} is reported twice in one request")
        if problem is not None:
            if isinstance(problem, Conflict) and _recorded(conn, ending, row):
                answers.append({"id": row.id, "state": row.state})  # sent again: answer lost
            else:
                answers.append({"id": ending.job_id, "refused": problem})
            continue
        outcome = _outcome(ending, row)
        decided.append((row, outcome, ending.error, ending.result))
        answers.append({"id": row.id, "state": outcome.value})
    finish(session, decided, now)
    return answers


def _outcome(ending: Ending, row: Any) -> JobState:
    if ending.status == "failed":
        return states.after_failure(_tries(row), row.max_attempts,
                                    (ending.error or {}).get("kind", "system"))
    return OUTCOME_OF_STATUS[ending.status]


def _recorded(conn: Connection, ending: Ending, row: Any) -> bool:
    """This very report was recorded before and its answer lost (the worker sends it again):
    the same worker and attempt, and the attempt ended as this report says it did."""
    if row is None or (row.worker, row.attempt) != (ending.worker, ending.attempt) \
            or row.state == JobState.RUNNING.value:
        return False
    stored = conn.execute(select(ATTEMPTS.c.outcome).where(
        ATTEMPTS.c.job_id == row.id, ATTEMPTS.c.number == row.attempt)).scalar()
    return stored == _outcome(ending, row).value


def complete_one(session: Session, ending: Ending, settings: Settings,
                 now: dt.datetime | None = None) -> str:
    """complete() for one report: the job's new state, or its refusal raised."""
    [answer] = complete(session, [ending], settings, now)
    if "refused" in answer:
        raise answer["refused"]
    return str(answer["state"])


def _refusal(ending: Ending, row: Any) -> Refusal | None:
    if row is None:
        return NotFound(f"no job {ending.job_id}")
    if ending.status != "failed" and ending.status not in OUTCOME_OF_STATUS:
        return Invalid(f"status must be passed, failed, cancelled or timed_out, not "
                       f"'{ending.status}'")
    problem = not_held(row, ending.worker, ending.attempt)
    return None if problem is None else Conflict(problem)


def finish(session: Session, decided: Sequence[Decision], now: dt.datetime) -> None:
    """Write the decided outcomes of running jobs (rows read with _READ, locked)."""
    if not decided:
        return
    jobs_rows, attempt_rows, item_rows, later = [], [], [], []
    for row, outcome, error, result in decided:
        states.check(row.state, outcome)
        final = outcome is not JobState.RETRYING
        not_before = None if final else now + dt.timedelta(seconds=states.retry_delay(
            _tries(row), row.retry_delay_s, row.retry_backoff))
        if not final:  # its worker's wait ends when the retry is due (arrivals.py)
            arrivals.announce(session, row.labels or (), at=not_before)
        kept = result if result is not None else row.result
        jobs_rows.append({"b_id": row.id, "b_state": outcome.value, "b_error": error,
                          "b_result": kept, "b_finished": now if final else None,
                          "b_not_before": not_before})
        attempt_rows.append({"b_id": row.id, "b_number": row.attempt, "b_outcome": outcome.value,
                             "b_error": error, "b_now": now})
        items = _items(row.id, row.attempt, result or {})
        if row.attempt > 1 and items:
            later.append((row.id, items))  # merged with what earlier attempts did
        else:
            item_rows += items
    conn, run = sql(session)
    conn.execute(run.end_jobs, jobs_rows)
    conn.execute(run.end_attempts, attempt_rows)
    conn.execute(run.free_workers, {"names": sorted({r.worker for r, *_ in decided}),
                                    "now": now})
    if later:
        item_rows += _merge_items(conn, run, later)
    if item_rows:
        conn.execute(run.add_items, item_rows)
    ended = [(row, outcome) for row, outcome, *_ in decided if outcome is not JobState.RETRYING]
    if ended:
        _add_savings(session, conn, run, ended, now)


def _number(value: Any, default: float = 0) -> float:
    """A count or duration from a worker's result; what is not a number counts as default
    (a result is the robot's own file: it must not turn a report into a 500)."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return default
    return number if abs(number) < 2**53 else default


def _items(job_id: int, attempt: int, result: dict[str, Any]) -> list[dict[str, Any]]:
    """The job_items rows of the work items an attempt's result lists — but not work-queue
    items: their rows are written when the orchestrator takes their outcome (queues.report),
    so an item whose report was refused (taken back, worked by another job) is not counted
    from the robot's word."""
    listed = result.get("work_items")
    return [{"job_id": job_id, "reference": str(i.get("id", ""))[:500],
             "outcome": str(i.get("outcome", ""))[:30], "message": str(i.get("message", "")),
             "attempts": int(_number(i.get("attempts"), 1)),
             "duration_ms": _number(i.get("duration_ms")), "worked_by": [attempt],
             "queue_item_id": None}
            for i in (listed if isinstance(listed, list) else [])
            if isinstance(i, dict) and i.get("queue_item") is None]


def _merge_items(conn: Connection, run: Statements, later: list[tuple[int, list[dict[str, Any]]]]
                 ) -> list[dict[str, Any]]:
    """Items of a later attempt merged into the rows earlier attempts left: an item worked
    again keeps one row (counted once) that names every attempt that worked it, and stays
    done if any attempt did it (its work happened). Matched by reference and occurrence (a
    list may name a reference twice). Returns the rows to insert."""
    ids = [job_id for job_id, _ in later]
    old: dict[tuple[int, str, int], Any] = {}
    seen: dict[tuple[int, str], int] = defaultdict(int)
    for r in conn.execute(select(ITEMS.c.id, ITEMS.c.job_id, ITEMS.c.reference, ITEMS.c.outcome,
                                 ITEMS.c.attempts, ITEMS.c.worked_by)
                          .where(ITEMS.c.job_id.in_(ids), ITEMS.c.queue_item_id.is_(None))
                          .order_by(ITEMS.c.id)):
        n = seen[(r.job_id, r.reference)]
        seen[(r.job_id, r.reference)] += 1
        old[(r.job_id, r.reference, n)] = r
    new_rows, updates = [], []
    for job_id, items in later:
        count: dict[str, int] = defaultdict(int)
        for item in items:
            n = count[item["reference"]]
            count[item["reference"]] += 1
            before = old.get((job_id, item["reference"], n))
            if before is None:
                new_rows.append(item)
                continue
            updates.append({
                "b_row": before.id, "b_message": item["message"],
                "b_outcome": "done" if "done" in (before.outcome, item["outcome"])
                else item["outcome"],
                "b_attempts": int(before.attempts or 0) + item["attempts"],
                "b_worked_by": [*(before.worked_by or []), *item["worked_by"]],
                "b_duration": item["duration_ms"]})
    if updates:
        conn.execute(run.merge_items, updates)
    return new_rows


def _add_savings(session: Session, conn: Connection, run: Statements,
                 ended: Sequence[tuple[Any, JobState]], now: dt.datetime) -> None:
    """Each ended job's savings, added to its robot's day: its work items as the orchestrator
    recorded them across all its attempts (an item counts once, however often worked), not
    the last attempt's own count."""
    counts: dict[int, dict[str, int]] = defaultdict(dict)
    for job_id, outcome, n in conn.execute(
            select(ITEMS.c.job_id, ITEMS.c.outcome, func.count())
            .where(ITEMS.c.job_id.in_([row.id for row, _ in ended]))
            .group_by(ITEMS.c.job_id, ITEMS.c.outcome)):
        counts[job_id][outcome] = int(n)
    savings: dict[tuple[str, dt.date], dict[str, float]] = defaultdict(
        lambda: defaultdict(float))
    for row, outcome in ended:
        items = counts.get(row.id, {})
        started = aware(row.started) or now
        kpi.count_job(savings[(row.robot, kpi.day_of(now))],
                      succeeded=outcome is JobState.SUCCEEDED,
                      items={"done": items.get("done", 0),
                             "business_exceptions": items.get("business_exception", 0),
                             "system_errors": items.get("system_error", 0)},
                      robot_seconds=max(0.0, (now - started).total_seconds()),
                      savings=version_facts(session, row.version).savings)
    conn.execute(run.add_savings, kpi.rows(savings))


def extend_leases(session: Session, seconds: float, now: dt.datetime | None = None) -> int:
    """Running jobs whose lease ends sooner get `seconds` from now (see services/reaper.py)."""
    until = (now or utcnow()) + dt.timedelta(seconds=seconds)
    result = session.execute(update(JOBS).where(JOBS.c.state == JobState.RUNNING.value,
                                                JOBS.c.lease_expires < until)
                             .values(lease_expires=until))
    return int(getattr(result, "rowcount", 0) or 0)


def reap(session: Session, settings: Settings, now: dt.datetime | None = None) -> int:
    """Running jobs whose lease ran out (the worker died or lost the network) are retried as a
    system error of that attempt, or failed when no attempts are left."""
    now = now or utcnow()
    conn, run = sql(session)
    expired = conn.execute(run.expired, {"now": now}).all()
    decided: list[Decision] = []
    for row in expired:
        error = {"kind": "system", "message": f"the lease of worker '{row.worker}' expired "
                                              f"during attempt {row.attempt} (worker lost)"}
        outcome = JobState.CANCELLED if row.cancel_requested else states.after_failure(
            _tries(row), row.max_attempts, "system")
        decided.append((row, outcome, error, None))
    finish(session, decided, now)
    return len(expired)


# --- handing back ----------------------------------------------------------------------------

def release(session: Session, job_id: int, worker: str, attempt: int, reason: str = "",
            now: dt.datetime | None = None) -> str:
    """A worker hands back an attempt it will not finish (it is stopping): the job is queued
    again, leasable at once by any worker, and the attempt ends as `released`. That is no try
    of the job: states.tries() leaves released attempts out of what max_attempts limits and
    the retry delay grows with, so a job with max_attempts=1 still has its one try. It adds no
    run, success or failure to the KPI, and the job's queue items in progress go back to new
    without a failed try (queues.release_items). A job whose cancel was asked is cancelled
    instead, as the reaper would do. Answers the job's state.

    Counting released attempts (one indexed count in the jobs' read, _READ) rather than raising
    max_attempts by one: the job keeps the limit people gave it and see, and nothing has to be
    undone if the count is ever wrong. The attempt number still grows with each lease, so each
    attempt keeps its own events, artifacts and job token.

    409 unless the worker holds this attempt. Sent again after its answer was lost (the same
    worker and attempt, handed back and not leased since), it answers the job's state."""
    now = now or utcnow()
    session.flush()
    conn, run = sql(session)
    row: Any = conn.execute(run.read, {"ids": [job_id]}).first()
    if row is None:
        raise NotFound(f"no job {job_id}")
    problem = not_held(row, worker, attempt)
    if problem is not None:
        if _handed_back(conn, row, worker, attempt):
            return str(row.state)
        raise Conflict(problem)
    why = reason.strip()  # storable: the guard refused NUL and lone surrogates (guard.py)
    note = {"kind": states.RELEASED, "message": f"handed back unfinished by worker '{worker}'"
                                                + (f": {why}" if why else "")}
    if row.cancel_requested:  # the robot was stopped, as its cancel asked
        finish(session, [(row, JobState.CANCELLED, note, None)], now)
        return JobState.CANCELLED.value
    state = states.check(row.state, JobState.QUEUED)
    conn.execute(update(JOBS).where(JOBS.c.id == job_id).values(
        state=state.value, lease_expires=None, not_before=None))
    conn.execute(run.end_attempts, {"b_id": job_id, "b_number": attempt,
                                    "b_outcome": states.RELEASED, "b_error": note,
                                    "b_now": now})
    conn.execute(run.free_workers, {"names": [worker], "now": now})
    queues.release_items(session, job_id, now)
    arrivals.announce(session, row.labels or ())  # waiting leases wake at the commit
    return state.value


def _handed_back(conn: Connection, row: Any, worker: str, attempt: int) -> bool:
    """This worker's attempt was handed back already (by this very release, its answer lost)."""
    if (row.worker, row.attempt) != (worker, attempt) or row.state == JobState.RUNNING.value:
        return False
    stored = conn.execute(select(ATTEMPTS.c.outcome).where(
        ATTEMPTS.c.job_id == row.id, ATTEMPTS.c.number == attempt)).scalar()
    return stored == states.RELEASED or (stored == JobState.CANCELLED.value
                                         and bool(row.cancel_requested))
