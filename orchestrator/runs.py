"""Reading runs (jobs) for people: filtered lists a page at a time, one run in full, and the
business day at a glance. The API and the console both read through here.

Lists are paged by keyset (`before`: the last id of the previous page), never by OFFSET, so the
thousandth page costs what the first does at millions of rows.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from orchestrator import kpi, queues
from orchestrator.jobs import aware, get_job, utcnow
from orchestrator.models import Artifact, Attempt, Job, JobEvent, JobItem, QueueItem
from orchestrator.settings import Settings
from orchestrator.states import FINAL, JobState

PAGE = 50
# the columns a list shows: not inputs, results or errors' detail (a row stays small)
LIST_COLUMNS = (Job.id, Job.robot, Job.state, Job.worker, Job.attempt, Job.max_attempts,
                Job.source, Job.schedule, Job.created, Job.started, Job.finished,
                Job.cancel_requested, Job.error)


@dataclass(frozen=True)
class RunFilter:
    robot: str | None = None
    state: JobState | None = None
    worker: str | None = None
    since: dt.datetime | None = None  # created at or after
    until: dt.datetime | None = None  # created before

    def where(self, query: Select[Any]) -> Select[Any]:
        if self.robot:
            query = query.where(Job.robot == self.robot)
        if self.state is not None:
            query = query.where(Job.state == self.state.value)
        if self.worker:
            query = query.where(Job.worker == self.worker)
        if self.since is not None:
            query = query.where(Job.created >= self.since)
        if self.until is not None:
            query = query.where(Job.created < self.until)
        return query


def find(session: Session, where: RunFilter, *, before: int | None = None,
         limit: int = PAGE) -> list[Any]:
    """Runs newest first (rows of LIST_COLUMNS)."""
    query = where.where(select(*LIST_COLUMNS)).order_by(Job.id.desc()).limit(limit)
    if before is not None:
        query = query.where(Job.id < before)
    return list(session.execute(query))


# named, not "not final": ix_jobs_state finds the few unfinished among millions of ended runs
UNFINISHED = sorted(s.value for s in JobState if s not in FINAL)


def unfinished_ids(session: Session, where: RunFilter, limit: int) -> list[int]:
    """The ids of (at most `limit`) unfinished runs a filter selects, for bulk actions."""
    query = where.where(select(Job.id)).where(Job.state.in_(UNFINISHED))
    return list(session.scalars(query.order_by(Job.id.desc()).limit(limit)))


def count_unfinished(session: Session, where: RunFilter, limit: int) -> int:
    """How many runs a bulk action on the filter would touch (counted up to `limit`)."""
    inner = where.where(select(Job.id)).where(Job.state.in_(UNFINISHED))
    return int(session.scalar(select(func.count()).select_from(inner.limit(limit).subquery()))
               or 0)


@dataclass
class RunDetail:
    job: Job
    attempts: list[Attempt]
    steps: list[dict[str, Any]]  # the timeline: one entry per step run, in order
    items: list[JobItem]
    artifacts: list[Artifact]
    events: list[JobEvent]


def timeline(events: Sequence[JobEvent], shots: dict[tuple[int, str], int]) -> list[dict[str, Any]]:
    """Each step's start joined to its end: label, file:line:col, duration, outcome, error and
    the id of its screenshot artifact (matched by the run-relative name the event carries)."""
    open_steps: dict[tuple[int, str], dict[str, Any]] = {}
    steps: list[dict[str, Any]] = []
    for row in events:
        event = row.event
        kind = event.get("type")
        if kind == "step.start":
            entry = {"attempt": row.attempt, "step": event.get("step", ""),
                     "name": event.get("name", ""), "label": event.get("label", ""),
                     "started": event.get("ts"), "outcome": "running", "duration_ms": None,
                     "error": None, "screenshot": None, "try": event.get("attempt", 1)}
            open_steps[(row.attempt, entry["step"])] = entry
            steps.append(entry)
        elif kind == "step.end":
            found = open_steps.pop((row.attempt, event.get("step", "")), None)
            if found is None:
                continue
            found.update(outcome=event.get("outcome", ""),
                         duration_ms=event.get("duration_ms"),
                         error=(event.get("error") or {}).get("message"))
            shot = event.get("screenshot")
            if shot:
                found["screenshot"] = shots.get((row.attempt, shot))
    return steps


def detail(session: Session, job_id: int, *, events: int = 2000) -> RunDetail:
    job = get_job(session, job_id)
    attempts = list(session.scalars(select(Attempt).where(Attempt.job_id == job_id)
                                    .order_by(Attempt.number)))
    rows = list(session.scalars(select(JobEvent).where(JobEvent.job_id == job_id)
                                .order_by(JobEvent.id).limit(events)))
    artifacts = list(session.scalars(select(Artifact).where(Artifact.job_id == job_id)
                                     .order_by(Artifact.id)))
    shots = {(a.attempt, a.name): a.id for a in artifacts}
    items = list(session.scalars(select(JobItem).where(JobItem.job_id == job_id)
                                 .order_by(JobItem.id)))
    return RunDetail(job, attempts, timeline(rows, shots), items, artifacts, rows)


# --- the business day ------------------------------------------------------------------------

_NUMBERS = re.compile(r"\d+")
_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"|‘[^’]*’|“[^”]*”")


def signature(error: dict[str, Any] | None) -> tuple[str, str]:
    """Failures that are the same problem: the same step and the same message once numbers
    and quoted values are taken out ("no element matches '#acc-1021'" ~ "... '#acc-877'")."""
    if not error:
        return "", ""
    message = str(error.get("message", ""))
    where = str(error.get("step") or "")
    if not where:
        found = re.search(r"\S+\.ya?ml:\d+:\d+", message)
        where = found.group(0) if found else ""
    shape = _NUMBERS.sub("#", _QUOTED.sub("'…'", message.replace(where, "")))
    return where, shape.strip(" :")


def day_bounds(day: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """A business day in the orchestrator's zone, as UTC instants."""
    zone = kpi.timezone()
    start = dt.datetime.combine(day, dt.time(), zone)
    return start.astimezone(dt.UTC), (start + dt.timedelta(days=1)).astimezone(dt.UTC)


def today(now: dt.datetime | None = None) -> dt.date:
    return (now or utcnow()).astimezone(kpi.timezone()).date()


def overview(session: Session, settings: Settings, now: dt.datetime | None = None
             ) -> dict[str, Any]:
    """The Today page: runs by state, what runs now, failures grouped by signature, queues with
    their outlook, hours saved today and this month."""
    now = now or utcnow()
    day = today(now)
    # by id, which is the order they started in near enough: ix_jobs_state (state, id) finds
    # the few running among millions of ended runs, where ORDER BY started made SQLite scan
    running = list(session.execute(select(*LIST_COLUMNS).where(
        Job.state == JobState.RUNNING.value).order_by(Job.id).limit(100)))
    month = kpi.query(session, settings, start=day.replace(day=1), end=day, by="month")
    today_figures = kpi.query(session, settings, start=day, end=day)["totals"]
    return {"day": day, "by_state": states_on(session, day), "running": running,
            "failures": failures_on(session, day),
            "queues": queue_outlook(session, now), "today": today_figures,
            "month": month["totals"]}


def queue_outlook(session: Session, now: dt.datetime) -> list[dict[str, Any]]:
    """Each queue's items left and, from the last hour's pace, the time to clear them."""
    hour_ago = now - dt.timedelta(hours=1)
    pace = dict(session.execute(select(QueueItem.queue, func.count()).where(
        QueueItem.updated >= hour_ago,
        QueueItem.state.in_(["done", "business_exception", "failed"])
    ).group_by(QueueItem.queue)).all())
    outlook = []
    for name, counts in queues.all_stats(session).items():
        left = counts.get("new", 0) + counts.get("in_progress", 0)
        per_hour = pace.get(name, 0)
        eta = None if not left or not per_hour else left / per_hour * 3600
        outlook.append({"name": name, "left": left, "per_hour": per_hour, "eta_s": eta,
                        "counts": counts})
    return outlook


def run_seconds(row: Any) -> float | None:
    started, finished = aware(row.started), aware(row.finished)
    if started is None:
        return None
    return ((finished or utcnow()) - started).total_seconds()


# --- one business day: Today's page and the daily report ---------------------------------------

def states_on(session: Session, day: dt.date) -> dict[str, int]:
    """The runs created on a business day, by state (every state named, 0 when none)."""
    start, end = day_bounds(day)
    by_state = dict.fromkeys([s.value for s in JobState], 0)
    for state, count in session.execute(select(Job.state, func.count()).where(
            Job.created >= start, Job.created < end).group_by(Job.state)):
        by_state[state] = count
    return by_state


def failures_on(session: Session, day: dt.date) -> list[dict[str, Any]]:
    """The runs that failed on a business day, grouped by robot and signature, most first."""
    start, end = day_bounds(day)
    groups: dict[tuple[str, str, str], dict[str, Any]] = {}
    for job_id, robot, error in session.execute(
            select(Job.id, Job.robot, Job.error).where(
                Job.state == JobState.FAILED.value, Job.finished >= start,
                Job.finished < end).order_by(Job.id.desc()).limit(5000)):
        key = (robot, *signature(error))
        group = groups.setdefault(key, {"robot": robot, "step": key[1], "shape": key[2],
                                        "message": (error or {}).get("message", ""),
                                        "count": 0, "last": job_id})
        group["count"] += 1
    # ties by robot and step, so the same day always lists the same way
    return sorted(groups.values(), key=lambda g: (-g["count"], g["robot"], g["step"],
                                                  g["shape"]))
