"""Jobs: create one, retry one, cancel it, keep its lease alive, store its events, show it.

Leasing and finishing (the hot path) are in dispatch.py. Every change of a job's state goes
through states.check(), so the rules live in one place. A worker can only act on a job while it
holds the lease for the current attempt: a report from a worker whose lease expired (and whose
job was handed to another) is refused with 409.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, cast, overload

from sqlalchemy import CursorResult, bindparam, select, text
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from orchestrator import arrivals, states
from orchestrator.db import connection_of
from orchestrator.models import Job, JobItem, Robot, RobotVersion, Worker
from orchestrator.refusals import Conflict, Invalid, NotFound, Refusal
from orchestrator.settings import Settings
from orchestrator.states import JobState


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@overload
def aware(value: dt.datetime) -> dt.datetime: ...
@overload
def aware(value: None) -> None: ...
def aware(value: dt.datetime | None) -> dt.datetime | None:
    """SQLite hands datetimes back without a zone; everything stored is UTC."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    return value


def create_job(session: Session, *, robot: str, inputs: dict[str, Any] | None = None,
               priority: int = 0, not_before: dt.datetime | None = None,
               labels: Iterable[str] = (), timeout_s: float | None = None,
               max_attempts: int = 1, retry_delay_s: float = 10.0, retry_backoff: float = 2.0,
               schedule: str | None = None, source: str = "api") -> Job:
    deployed = session.get(Robot, robot)
    if deployed is None:
        known = sorted(session.scalars(select(Robot.name)).all())
        raise NotFound(f"robot '{robot}' is not deployed (deployed: "
                       f"{', '.join(known) or 'none'}); deploy it with workhand up or "
                       "POST /api/v1/robots")
    if max_attempts < 1:
        raise Invalid("max_attempts must be 1 or more")
    job = Job(robot=robot, version=deployed.current, inputs=dict(inputs or {}),
              priority=priority, not_before=not_before,
              labels=with_needs(session, deployed.current, labels),
              timeout_s=timeout_s, max_attempts=max_attempts, retry_delay_s=retry_delay_s,
              retry_backoff=retry_backoff, schedule=schedule, source=source,
              state=JobState.QUEUED.value)
    return _queued(session, job)


def with_needs(session: Session, version: str, labels: Iterable[str]) -> list[str]:
    """A job's labels: those asked for and what its robot version needs of a worker (its
    `needs`, e.g. desktop: libs.plan.worker_needs), so only a worker that offers them leases
    it — whoever starts the job (the API, a schedule, the console, a retry)."""
    needs = session.scalar(select(RobotVersion.needs).where(RobotVersion.digest == version))
    return sorted({*labels, *(needs or ())})


def _queued(session: Session, job: Job) -> Job:
    session.add(job)
    session.flush()
    arrivals.announce(session, job.labels, at=job.not_before)  # waiting leases wake
    return job


MAX_CHAIN = 1000  # retries of retries followed back, at most


def retry(session: Session, job_id: int, *, only_failed_items: bool = False,
          source: str = "api") -> Job:
    """A new job that runs what a finished job ran: the same robot version (not the robot's
    current one: a retry repeats that run), inputs, labels, priority, timeout and retry policy,
    with retry_of naming the original. 409 while the original has not finished.

    only_failed_items: the new job's skip_items are the work items done in the original or in
    any run of its chain of retries (retry_of, followed back), so the robot runs only the
    items that are not done yet (libs/runner.py); a work queue's items are left out of it, as
    queues retry their own items."""
    original = get_job(session, job_id)
    if JobState(original.state) not in states.FINAL:
        raise Conflict(f"job {job_id} is {original.state}: only a finished job can be "
                       "retried; wait for it to end, or cancel it first")
    job = Job(robot=original.robot, version=original.version,
              inputs=dict(original.inputs or {}), priority=original.priority,
              labels=with_needs(session, original.version, original.labels or []),
              timeout_s=original.timeout_s,
              max_attempts=original.max_attempts, retry_delay_s=original.retry_delay_s,
              retry_backoff=original.retry_backoff, source=source, retry_of=original.id,
              skip_items=done_in_chain(session, original) if only_failed_items else None,
              state=JobState.QUEUED.value)
    return _queued(session, job)


def done_in_chain(session: Session, job: Job) -> list[str]:
    """The work item ids (JobItem.reference) done in this job or in any job it retries,
    however far back; work-queue items are not among them."""
    chain, back = [job.id], job.retry_of
    while back is not None and back not in chain and len(chain) < MAX_CHAIN:
        chain.append(back)
        back = session.scalar(select(Job.retry_of).where(Job.id == back))
    return list(session.scalars(
        select(JobItem.reference).distinct()
        .where(JobItem.job_id.in_(chain), JobItem.outcome == "done",
               JobItem.queue_item_id.is_(None))
        .order_by(JobItem.reference)))


def time_limit(timeout_s: float | None, settings: Settings) -> float:
    """The seconds a job's attempt may run, as its worker enforces them: the job's own timeout,
    else the default (WORKHAND_JOB_TIMEOUT_SECONDS, 4 hours), never more than the maximum
    (WORKHAND_MAX_JOB_TIMEOUT_SECONDS, 7 days). No job runs without a limit."""
    if timeout_s is None or not timeout_s > 0:
        timeout_s = settings.job_timeout_s
    return min(timeout_s, settings.max_job_timeout_s)


def get_job(session: Session, job_id: int, *, share: bool = False) -> Job:
    """The job or 404; share: read FOR SHARE on PostgreSQL (see holding)."""
    lock = {"read": True} if share and session.get_bind().dialect.name == "postgresql" else None
    job = session.get(Job, job_id, with_for_update=lock)
    if job is None:
        raise NotFound(f"no job {job_id}")
    return job


def not_held(job: Any, worker: str, attempt: int) -> str | None:
    """Why this worker may not act on this attempt of the job (a Job or a row of its columns);
    None when it holds the lease."""
    if job.state == JobState.RUNNING.value and job.worker == worker and job.attempt == attempt:
        return None
    return (f"job {job.id} attempt {attempt} is not leased to worker '{worker}' (it is "
            f"{job.state}, attempt {job.attempt}); stop it")


def holding(session: Session, job_id: int, worker: str, attempt: int, *,
            share: bool = False) -> Job:
    """The job, if this worker holds its lease for this attempt; else 409.

    share: on PostgreSQL the job's row is read FOR SHARE, so the job cannot end (complete,
    release, the reaper) until this transaction has committed — a work item's report taken
    just after the job's items were counted would be missing from its KPI."""
    job = get_job(session, job_id, share=share)
    problem = not_held(job, worker, attempt)
    if problem is not None:
        raise Conflict(problem)
    return job


# A running robot's worker calls these every few seconds: each is one statement that checks the
# lease and does the work at once (on PostgreSQL in autocommit: one round trip; db.single).
# Only when it changes nothing is the job read again, to say why (409 or 404).
_RUNNING = JobState.RUNNING.value
_EXPIRES = bindparam("expires", type_=Job.__table__.c.lease_expires.type)
_SEEN = bindparam("now", type_=Worker.__table__.c.last_seen.type)
_LEASE_OUT = (Job.__table__.c.cancel_requested, Job.__table__.c.lease_expires)
_HELD = "SELECT 1 FROM jobs WHERE id = :job_id AND state = :running AND worker = :worker " \
        "AND attempt = :attempt"
_BEAT_PG = text(
    "WITH held AS (UPDATE jobs SET lease_expires = :expires WHERE id = :job_id "
    "AND state = :running AND worker = :worker AND attempt = :attempt "
    "RETURNING cancel_requested, lease_expires), "
    "seen AS (UPDATE workers SET last_seen = :now, current_job = :job_id "
    "WHERE name = :worker AND EXISTS (SELECT 1 FROM held)) "
    "SELECT cancel_requested, lease_expires FROM held").bindparams(_EXPIRES, _SEEN).columns(
    *_LEASE_OUT)
_BEAT_SQLITE = (text(
    "UPDATE jobs SET lease_expires = :expires WHERE id = :job_id AND state = :running "
    "AND worker = :worker AND attempt = :attempt RETURNING cancel_requested, lease_expires"
).bindparams(_EXPIRES).columns(*_LEASE_OUT), text(
    "UPDATE workers SET last_seen = :now, current_job = :job_id WHERE name = :worker"
).bindparams(_SEEN))
_EVENTS = {
    "postgresql": text(
        "INSERT INTO job_events (job_id, attempt, seq, event) "
        "SELECT :job_id, :attempt, e.seq, e.event "
        "FROM json_to_recordset(CAST(:rows AS json)) AS e(seq bigint, event json) "
        f"WHERE EXISTS ({_HELD}) ON CONFLICT DO NOTHING"),
    "sqlite": text(
        "INSERT INTO job_events (job_id, attempt, seq, event) "
        "SELECT :job_id, :attempt, json_extract(e.value, '$.seq'), "
        "json_extract(e.value, '$.event') FROM json_each(:rows) AS e "
        f"WHERE EXISTS ({_HELD}) ON CONFLICT DO NOTHING")}
_STILL_HELD = text(_HELD)


def refusal(job: Any, job_id: int, worker: str, attempt: int) -> Refusal | None:
    """Why this worker may not act on this attempt (`job`: a row of the job's id, state, worker
    and attempt, or None when there is no such job); None when it holds the lease."""
    if job is None:
        return NotFound(f"no job {job_id}")
    problem = not_held(job, worker, attempt)
    return None if problem is None else Conflict(problem)


def _why_not_held(conn: Connection, job_id: int, worker: str, attempt: int) -> Refusal:
    job = conn.execute(select(Job.id, Job.state, Job.worker, Job.attempt)
                       .where(Job.id == job_id)).first()
    return refusal(job, job_id, worker, attempt) or Conflict(
        f"job {job_id} attempt {attempt} changed hands while this was sent; stop it")


def heartbeat(db: Session | Connection, *, job_id: int, worker: str, attempt: int,
              settings: Settings, now: dt.datetime | None = None) -> dict[str, Any]:
    """The attempt's lease renewed and its worker seen: {cancel, lease_expires}; 409 unless
    this worker holds the attempt."""
    conn, now = connection_of(db), now or utcnow()
    values = {"job_id": job_id, "worker": worker, "attempt": attempt, "running": _RUNNING,
              "now": now, "expires": now + dt.timedelta(seconds=settings.lease_seconds)}
    if conn.dialect.name == "postgresql":
        row = conn.execute(_BEAT_PG, values).first()
    else:
        beat, seen = _BEAT_SQLITE
        row = conn.execute(beat, values).first()
        if row is not None:
            conn.execute(seen, values)
    if row is None:
        raise _why_not_held(conn, job_id, worker, attempt)
    return {"cancel": row.cancel_requested, "lease_expires": aware(row.lease_expires)}


def add_events(db: Session | Connection, *, job_id: int, worker: str, attempt: int,
               events: Sequence[Mapping[str, Any]]) -> int:
    """Store step events; each carries its line number in events.jsonl as `seq`, so a batch
    sent twice (after a lost reply) is stored once. 409 unless this worker holds the attempt."""
    conn = connection_of(db)
    rows = [{"seq": int(e.get("seq", 0)), "event": {k: v for k, v in e.items() if k != "seq"}}
            for e in events]
    stored = 0
    if rows:
        stored = cast(CursorResult[Any], conn.execute(_EVENTS[conn.dialect.name], {
            "job_id": job_id, "attempt": attempt, "worker": worker, "running": _RUNNING,
            "rows": json.dumps(rows)})).rowcount
    if stored == 0 and conn.execute(_STILL_HELD, {  # nothing new stored: was it all repeats?
            "job_id": job_id, "worker": worker, "attempt": attempt,
            "running": _RUNNING}).first() is None:
        raise _why_not_held(conn, job_id, worker, attempt)
    return len(rows)


def cancel(session: Session, job_id: int, now: dt.datetime | None = None) -> Job:
    """Waiting jobs are cancelled at once; a running one is told at its next heartbeat."""
    now = now or utcnow()
    job = get_job(session, job_id)
    if job.state in (JobState.QUEUED.value, JobState.RETRYING.value):
        job.state = states.check(job.state, JobState.CANCELLED).value
        job.finished = now
    elif job.state == JobState.RUNNING.value:
        job.cancel_requested = True
    else:
        raise Conflict(f"job {job_id} already ended ({job.state})")
    return job


def job_view(session: Session, job: Job, *, items: bool = True) -> dict[str, Any]:
    """A job as the API shows it (no credentials ever)."""
    view: dict[str, Any] = {
        "id": job.id, "robot": job.robot, "version": job.version, "state": job.state,
        "inputs": job.inputs, "priority": job.priority, "labels": job.labels,
        "attempt": job.attempt, "max_attempts": job.max_attempts, "worker": job.worker,
        "schedule": job.schedule, "source": job.source, "cancel_requested": job.cancel_requested,
        "not_before": aware(job.not_before), "created": aware(job.created),
        "started": aware(job.started), "finished": aware(job.finished),
        "error": job.error, "result": job.result,
        "retry_of": job.retry_of, "skip_items": job.skip_items,
    }
    if items:
        rows = session.scalars(select(JobItem).where(JobItem.job_id == job.id)
                               .order_by(JobItem.id)).all()
        view["items"] = [{"reference": r.reference, "outcome": r.outcome, "message": r.message,
                          "attempts": r.attempts, "worked_by": r.worked_by or [],
                          "queue_item": r.queue_item_id} for r in rows]
    return view
