"""Reading the workers for people: each with its slots, the jobs it runs now and whether it is
online; the online fleet's capacity against the runs waiting. The API (GET /workers) and the
console's 工作站 page both read through here.

A worker's running jobs come from the jobs table (state running, worker = its name), read for
all workers in one query: the worker row's own `current_job` names one job at most, though a
worker with several slots runs several.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from orchestrator.jobs import aware, utcnow
from orchestrator.models import Job, Worker
from orchestrator.states import JobState

ONLINE_S = 90  # a worker heard from within this long is online (it calls every few seconds)
WAITING = (JobState.QUEUED.value, JobState.RETRYING.value)  # runs no worker has yet


@dataclass(frozen=True)
class WorkerRow:
    name: str
    labels: list[str]
    last_seen: dt.datetime
    slots: int | None  # robots it runs at once, as it last said; None: it has not said
    running: list[int]  # its running jobs' ids, oldest first
    online: bool

    @property
    def free(self) -> int:
        """Slots it has free now. One that has not said how many it has (a worker older than
        the slots column) counts as running what it runs and one robot at least (the default
        of `workhand worker --slots`)."""
        return max(0, (self.slots or max(1, len(self.running))) - len(self.running))


def running_by_worker(session: Session) -> dict[str, list[int]]:
    """The ids of the running jobs of each worker, oldest first: one query for all workers
    (along ix_jobs_state, by state and id)."""
    found: dict[str, list[int]] = {}
    for worker, job_id in session.execute(
            select(Job.worker, Job.id).where(Job.state == JobState.RUNNING.value)
            .order_by(Job.id)):
        found.setdefault(worker or "", []).append(job_id)
    return found


def fleet(session: Session, now: dt.datetime | None = None) -> list[WorkerRow]:
    """Every worker that ever leased, by name."""
    now = now or utcnow()
    running = running_by_worker(session)
    return [WorkerRow(name=w.name, labels=list(w.labels or []), last_seen=aware(w.last_seen),
                      slots=w.slots, running=running.get(w.name, []),
                      online=(now - aware(w.last_seen)).total_seconds() < ONLINE_S)
            for w in session.scalars(select(Worker).order_by(Worker.name))]


@dataclass(frozen=True)
class Capacity:
    """The online workers' slots against the runs waiting for one."""
    online: int  # workers
    slots: int  # their slots, busy or free
    free: int  # their free slots
    waiting: int  # runs queued or waiting to retry


def capacity(session: Session, rows: Sequence[WorkerRow]) -> Capacity:
    online = [row for row in rows if row.online]
    waiting = session.scalar(select(func.count()).where(Job.state.in_(WAITING))) or 0
    return Capacity(online=len(online),
                    slots=sum(row.free + len(row.running) for row in online),
                    free=sum(row.free for row in online), waiting=int(waiting))
