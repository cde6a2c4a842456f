"""Dispatch: create a job, lease it to a worker, keep the lease alive, record how it ended.

Every change of a job's state goes through states.check(), so the rules live in one place. A
worker can only act on a job while it holds the lease for the current attempt: a report from a
worker whose lease expired (and whose job was handed to another) is refused with 409.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import delete, event, insert, select, update
from sqlalchemy.orm import Session

from orchestrator import states
from orchestrator.db import upsert
from orchestrator.models import Attempt, Job, JobEvent, JobItem, Robot, RobotVersion, Worker
from orchestrator.settings import Settings
from orchestrator.states import JobState

LEASE_SCAN = 50  # candidates looked at per lease (label matching is done in Python)


class Arrivals:
    """Wakes long-polling leases in this process when a job has been committed. The count
    lets a lease that was busy querying notice an arrival it would otherwise sleep through."""

    def __init__(self) -> None:
        self.count = 0
        self._cond = threading.Condition()

    def notify(self, *_: Any) -> None:
        with self._cond:
            self.count += 1
            self._cond.notify_all()

    def wait(self, seen: int, timeout: float) -> None:
        with self._cond:
            if self.count == seen:
                self._cond.wait(timeout)


arrivals = Arrivals()


class JobError(Exception):
    """A request about a job that cannot be met; status is the HTTP status to answer with."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _aware(value: dt.datetime | None) -> dt.datetime | None:
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
        raise JobError(404, f"robot '{robot}' is not deployed (deployed: "
                            f"{', '.join(known) or 'none'}); deploy it with workhand up or "
                            "POST /api/v1/robots")
    if max_attempts < 1:
        raise JobError(422, "max_attempts must be 1 or more")
    job = Job(robot=robot, version=deployed.current, inputs=dict(inputs or {}),
              priority=priority, not_before=not_before, labels=sorted(set(labels)),
              timeout_s=timeout_s, max_attempts=max_attempts, retry_delay_s=retry_delay_s,
              retry_backoff=retry_backoff, schedule=schedule, source=source,
              state=JobState.QUEUED.value)
    session.add(job)
    session.flush()
    event.listen(session, "after_commit", arrivals.notify, once=True)
    return job


def get_job(session: Session, job_id: int) -> Job:
    job = session.get(Job, job_id)
    if job is None:
        raise JobError(404, f"no job {job_id}")
    return job


def lease(session: Session, *, worker: str, labels: Sequence[str], settings: Settings,
          now: dt.datetime | None = None) -> Job | None:
    """The most urgent job this worker can run, now leased to it; None when there is none.

    PostgreSQL: FOR UPDATE SKIP LOCKED lets many workers lease at once without waiting on each
    other. SQLite: the transaction began with BEGIN IMMEDIATE, so leases are serialised."""
    now = now or utcnow()
    have = set(labels)
    query = (select(Job).where(Job.state.in_([s.value for s in states.LEASABLE]))
             .where((Job.not_before.is_(None)) | (Job.not_before <= now))
             .order_by(Job.priority.desc(), Job.id).limit(LEASE_SCAN))
    if session.bind is not None and session.bind.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    for job in session.scalars(query):
        if set(job.labels or []) <= have:
            _start(session, job, worker, settings, now)
            _seen(session, worker, labels, now, job.id)
            return job
    _seen(session, worker, labels, now, None)
    return None


def _start(session: Session, job: Job, worker: str, settings: Settings,
           now: dt.datetime) -> None:
    job.state = states.check(job.state, JobState.RUNNING).value
    job.attempt += 1
    job.worker = worker
    job.lease_expires = now + dt.timedelta(seconds=settings.lease_seconds)
    job.started = job.started or now
    session.add(Attempt(job_id=job.id, number=job.attempt, worker=worker, started=now))


def _seen(session: Session, worker: str, labels: Sequence[str], now: dt.datetime,
          job_id: int | None) -> None:
    values = {"name": worker, "labels": sorted(labels), "last_seen": now, "current_job": job_id}
    stmt = upsert(session)(Worker).values(**values)
    session.execute(stmt.on_conflict_do_update(
        index_elements=["name"], set_={k: v for k, v in values.items() if k != "name"}))


def holding(session: Session, job_id: int, worker: str, attempt: int) -> Job:
    """The job, if this worker holds its lease for this attempt; else 409."""
    job = get_job(session, job_id)
    if job.state != JobState.RUNNING.value or job.worker != worker or job.attempt != attempt:
        raise JobError(409, f"job {job_id} attempt {attempt} is not leased to worker "
                            f"'{worker}' (it is {job.state}, attempt {job.attempt}); stop it")
    return job


def heartbeat(session: Session, *, job_id: int, worker: str, attempt: int, settings: Settings,
              now: dt.datetime | None = None) -> Job:
    now = now or utcnow()
    job = holding(session, job_id, worker, attempt)
    job.lease_expires = now + dt.timedelta(seconds=settings.lease_seconds)
    session.execute(update(Worker).where(Worker.name == worker)
                    .values(last_seen=now, current_job=job.id))
    return job


def add_events(session: Session, *, job_id: int, worker: str, attempt: int,
               events: Sequence[dict[str, Any]]) -> int:
    """Store step events; each carries its line number in events.jsonl as `seq`, so a batch
    sent twice (after a lost reply) is stored once."""
    holding(session, job_id, worker, attempt)
    rows = [{"job_id": job_id, "attempt": attempt, "seq": int(e.get("seq", 0)),
             "event": {k: v for k, v in e.items() if k != "seq"}} for e in events]
    if not rows:
        return 0
    session.execute(upsert(session)(JobEvent).values(rows).on_conflict_do_nothing())
    return len(rows)


def complete(session: Session, *, job_id: int, worker: str, attempt: int, status: str,
             error: dict[str, Any] | None, result: dict[str, Any] | None, settings: Settings,
             now: dt.datetime | None = None) -> Job:
    """Record how an attempt ended and decide what happens next (see states.py)."""
    now = now or utcnow()
    job = holding(session, job_id, worker, attempt)
    if status == "passed":
        outcome = JobState.SUCCEEDED
    elif status == "cancelled":
        outcome = JobState.CANCELLED
    elif status == "timed_out":
        outcome = JobState.TIMED_OUT
    elif status == "failed":
        kind = (error or {}).get("kind", "system")
        outcome = states.after_failure(job.attempt, job.max_attempts, kind)
    else:
        raise JobError(422, f"status must be passed, failed, cancelled or timed_out, not "
                            f"'{status}'")
    _finish(session, job, outcome, error, result, now)
    return job


def _finish(session: Session, job: Job, outcome: JobState, error: dict[str, Any] | None,
            result: dict[str, Any] | None, now: dt.datetime) -> None:
    job.state = states.check(job.state, outcome).value
    job.error, job.lease_expires = error, None
    if result is not None:
        job.result = result
        _store_items(session, job, result)
    attempt = session.scalar(select(Attempt).where(Attempt.job_id == job.id,
                                                   Attempt.number == job.attempt))
    if attempt is not None:
        attempt.finished, attempt.outcome, attempt.error = now, outcome.value, error
    session.execute(update(Worker).where(Worker.name == job.worker)
                    .values(current_job=None, last_seen=now))
    if outcome is JobState.RETRYING:
        delay = states.retry_delay(job.attempt, job.retry_delay_s, job.retry_backoff)
        job.not_before = now + dt.timedelta(seconds=delay)
        return
    job.finished = now
    _count_savings(session, job, now)


def _store_items(session: Session, job: Job, result: dict[str, Any]) -> None:
    """The final attempt's work items replace any earlier attempt's."""
    session.execute(delete(JobItem).where(JobItem.job_id == job.id))
    rows = [{"job_id": job.id, "reference": str(i.get("id", ""))[:500],
             "outcome": str(i.get("outcome", "")), "message": str(i.get("message", "")),
             "attempts": int(i.get("attempts", 1)), "duration_ms": float(i.get("duration_ms", 0))}
            for i in result.get("work_items", [])]
    if rows:
        session.execute(insert(JobItem), rows)


def _count_savings(session: Session, job: Job, now: dt.datetime) -> None:
    from orchestrator import kpi

    version = session.get(RobotVersion, job.version)
    started = _aware(job.started) or now
    items = (job.result or {}).get("items") or {}
    kpi.record(session, robot=job.robot, day=kpi.day_of(now),
               succeeded=job.state == JobState.SUCCEEDED.value,
               items={k: int(items.get(k, 0)) for k in
                      ("done", "business_exceptions", "system_errors")},
               robot_seconds=max(0.0, (now - started).total_seconds()),
               savings=version.savings if version is not None else {})


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
        raise JobError(409, f"job {job_id} already ended ({job.state})")
    return job


def reap(session: Session, settings: Settings, now: dt.datetime | None = None) -> int:
    """Running jobs whose lease ran out (the worker died or lost the network) are retried as a
    system error of that attempt, or failed when no attempts are left."""
    now = now or utcnow()
    query = (select(Job).where(Job.state == JobState.RUNNING.value)
             .where(Job.lease_expires < now).limit(500))
    if session.bind is not None and session.bind.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    expired = list(session.scalars(query))
    for job in expired:
        error = {"kind": "system", "message": f"the lease of worker '{job.worker}' expired "
                                              f"during attempt {job.attempt} (worker lost)"}
        if job.cancel_requested:
            _finish(session, job, JobState.CANCELLED, error, None, now)
        else:
            _finish(session, job, states.after_failure(job.attempt, job.max_attempts, "system"),
                    error, None, now)
    return len(expired)


def job_view(session: Session, job: Job, *, items: bool = True) -> dict[str, Any]:
    """A job as the API shows it (no credentials ever)."""
    view: dict[str, Any] = {
        "id": job.id, "robot": job.robot, "version": job.version, "state": job.state,
        "inputs": job.inputs, "priority": job.priority, "labels": job.labels,
        "attempt": job.attempt, "max_attempts": job.max_attempts, "worker": job.worker,
        "schedule": job.schedule, "source": job.source, "cancel_requested": job.cancel_requested,
        "not_before": _aware(job.not_before), "created": _aware(job.created),
        "started": _aware(job.started), "finished": _aware(job.finished),
        "error": job.error, "result": job.result,
    }
    if items:
        rows = session.scalars(select(JobItem).where(JobItem.job_id == job.id)
                               .order_by(JobItem.id)).all()
        view["items"] = [{"reference": r.reference, "outcome": r.outcome, "message": r.message,
                          "attempts": r.attempts} for r in rows]
    return view
