"""Jobs: create one, cancel it, keep its lease alive, store its events, show it.

Leasing and finishing (the hot path) are in dispatch.py. Every change of a job's state goes
through states.check(), so the rules live in one place. A worker can only act on a job while it
holds the lease for the current attempt: a report from a worker whose lease expired (and whose
job was handed to another) is refused with 409.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from orchestrator import arrivals, states
from orchestrator.db import upsert
from orchestrator.models import Job, JobEvent, JobItem, Robot, Worker
from orchestrator.settings import Settings
from orchestrator.states import JobState


class JobError(Exception):
    """A request about a job that cannot be met; status is the HTTP status to answer with."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


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
    arrivals.announce(session, job.labels, at=not_before)
    return job


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
        raise JobError(404, f"no job {job_id}")
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
        raise JobError(409, problem)
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
    }
    if items:
        rows = session.scalars(select(JobItem).where(JobItem.job_id == job.id)
                               .order_by(JobItem.id)).all()
        view["items"] = [{"reference": r.reference, "outcome": r.outcome, "message": r.message,
                          "attempts": r.attempts, "worked_by": r.worked_by or [],
                          "queue_item": r.queue_item_id} for r in rows]
    return view
