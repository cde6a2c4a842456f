"""Jobs as other systems see them: start, follow, retry, cancel (the "process middle
platform")."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, status
from fastapi.responses import FileResponse, Response
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter
from sqlalchemy import select

from libs.checker import MAX_ROBOT_ID
from libs.events import RunEvent
from orchestrator import jobs, runs
from orchestrator.api.deps import MAX_ID, Id, Operator, Reader, Starter, transaction
from orchestrator.models import Artifact, Job, JobEvent
from orchestrator.refusals import NotFound
from orchestrator.states import JobState

router = APIRouter(prefix="/api/v1/jobs", tags=["jobs"])


class JobCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    robot: str = Field(min_length=1, max_length=MAX_ROBOT_ID, description="the robot's id")
    inputs: dict[str, Any] = Field(default_factory=dict)
    priority: int = Field(0, ge=-1000, le=1000, description="higher runs first")
    not_before: dt.datetime | None = Field(None, description="do not start before this time")
    labels: list[Annotated[str, Field(max_length=100)]] = Field(
        default_factory=list, max_length=20, description="a worker needs all of these")
    timeout_s: float | None = Field(None, gt=0, le=7 * 24 * 3600)
    max_attempts: int = Field(1, ge=1, le=100)
    retry_delay_s: float = Field(10.0, ge=0, le=24 * 3600)
    retry_backoff: float = Field(2.0, ge=1, le=10)


class JobItemView(BaseModel):
    reference: str
    outcome: str = Field(description="done, business_exception, system_error or skipped")
    message: str
    attempts: int
    worked_by: list[int] = Field(description="the attempts of the job that worked it")
    queue_item: int | None = Field(description="the work-queue item it is, if any")


class JobView(BaseModel):
    """A job as GET /jobs/{id} shows it (no credentials ever)."""
    model_config = ConfigDict(extra="allow")  # what jobs.job_view adds later is not dropped
    id: int
    robot: str
    version: str = Field(description="the robot version (bundle digest) it runs")
    state: JobState
    inputs: dict[str, Any]
    priority: int
    labels: list[str]
    attempt: int
    max_attempts: int
    worker: str | None
    schedule: str | None
    source: str
    cancel_requested: bool
    not_before: dt.datetime | None
    created: dt.datetime | None
    started: dt.datetime | None
    finished: dt.datetime | None
    error: dict[str, Any] | None
    result: dict[str, Any] | None
    retry_of: int | None = Field(None, description="the job this one retries")
    skip_items: list[str] | None = Field(
        None, description="work item ids done in an earlier run of the retried chain: not "
                          "run again (a retry of the failed items)")
    items: list[JobItemView] | None = Field(None, description="its work items (GET /jobs/{id})")


class EventView(BaseModel):
    """One stored run event: where it is (its id, the job's attempt, its line in that attempt's
    events.jsonl) and the event as the runner wrote it, masked: one of the run event types of
    libs/events.py, by `type` (step events carry step, file:line:col, and a failed step its
    screenshot, named as the run's artifacts are)."""
    id: int = Field(description="pass the last one as ?after= to read on")
    attempt: int = Field(description="the job's attempt that wrote it (a step's own try is "
                                     "event.attempt)")
    seq: int = Field(description="its line in that attempt's events.jsonl")
    event: RunEvent


_ROWS = TypeAdapter(list[dict[str, Any]])


class ArtifactView(BaseModel):
    id: int
    attempt: int
    name: str = Field(description="relative to the run's output folder, e.g. "
                                  "screenshots/0001-failed-line12.png")
    size: int


class RetryRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    only_failed_items: bool = Field(
        False, description="run only the work items not done yet: those done in the job, or "
                           "in any earlier run of its chain of retries, are skipped")


@router.post("", status_code=status.HTTP_201_CREATED, response_model=JobView)
def create(body: JobCreate, caller: Starter, request: Request) -> dict[str, Any]:
    """Start a robot; answers with the job id at once (the job runs when a worker is free)."""
    with transaction(request) as session:
        not_before = body.not_before
        if not_before is not None and not_before.tzinfo is None:
            not_before = not_before.replace(tzinfo=dt.UTC)
        job = jobs.create_job(session, robot=body.robot, inputs=body.inputs, priority=body.priority,
                              not_before=not_before, labels=body.labels, timeout_s=body.timeout_s,
                              max_attempts=body.max_attempts, retry_delay_s=body.retry_delay_s,
                              retry_backoff=body.retry_backoff, source="api")
        return jobs.job_view(session, job, items=False)


@router.get("", response_model=list[JobView])
def list_jobs(caller: Reader, request: Request,
              state: Annotated[JobState | None, Query()] = None,
              robot: Annotated[str | None, Query(max_length=200)] = None,
              worker: Annotated[str | None, Query(max_length=200)] = None,
              since: Annotated[dt.datetime | None, Query(description="created at or after")
                               ] = None,
              until: Annotated[dt.datetime | None, Query(description="created before")] = None,
              before: Annotated[int | None, Query(ge=1, le=MAX_ID, description=(
                  "the last id of the previous page: the next page, older (keyset)"))] = None,
              limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> list[dict[str, Any]]:
    """Jobs newest first, a page at a time (keyset: pass the last id as ?before=)."""
    where = runs.RunFilter(robot=robot, state=state, worker=worker, since=_utc(since),
                           until=_utc(until))
    with transaction(request) as session:
        query = where.where(select(Job)).order_by(Job.id.desc()).limit(limit)
        if before is not None:
            query = query.where(Job.id < before)
        return [jobs.job_view(session, j, items=False) for j in session.scalars(query)]


def _utc(value: dt.datetime | None) -> dt.datetime | None:
    return value.replace(tzinfo=dt.UTC) if value is not None and value.tzinfo is None \
        else value


@router.get("/{job_id}", response_model=JobView)
def get(job_id: Id, caller: Reader, request: Request) -> dict[str, Any]:
    """The job's state, its work items and its result."""
    with transaction(request) as session:
        return jobs.job_view(session, jobs.get_job(session, job_id))


@router.post("/{job_id}/retry", status_code=status.HTTP_201_CREATED, response_model=JobView)
def retry(job_id: Id, caller: Operator, request: Request,
          body: RetryRequest | None = None) -> dict[str, Any]:
    """Run a finished job again as a new job (retry_of: this one) with the same robot version,
    inputs, labels, priority, timeout and retry policy; only_failed_items: true skips the work
    items already done in it or in the runs it retries (skip_items). 409 while it has not
    finished."""
    with transaction(request) as session:
        job = jobs.retry(session, job_id,
                         only_failed_items=body is not None and body.only_failed_items)
        return jobs.job_view(session, job)


@router.post("/{job_id}/cancel", response_model=JobView)
def cancel(job_id: Id, caller: Operator, request: Request) -> dict[str, Any]:
    with transaction(request) as session:
        return jobs.job_view(session, jobs.cancel(session, job_id), items=False)


@router.get("/{job_id}/events", response_model=list[EventView])
def events(job_id: Id, caller: Reader, request: Request,
           after: Annotated[int, Query(ge=0, le=MAX_ID)] = 0,
           limit: Annotated[int, Query(ge=1, le=10000)] = 1000) -> Response:
    """Every run event of every attempt (the audit trail), in order, a page at a time."""
    with transaction(request) as session:
        jobs.get_job(session, job_id)
        rows = session.scalars(select(JobEvent)
                               .where(JobEvent.job_id == job_id, JobEvent.id > after)
                               .order_by(JobEvent.id).limit(limit))
        # as stored: each event was validated when its worker sent it (POST .../events), so
        # not again here; written by pydantic's serializer (json.dumps takes 10x as long)
        return Response(_ROWS.dump_json([{"id": r.id, "attempt": r.attempt, "seq": r.seq,
                                          "event": r.event} for r in rows]),
                        media_type="application/json")


@router.get("/{job_id}/artifacts", response_model=list[ArtifactView])
def artifacts(job_id: Id, caller: Reader, request: Request) -> list[dict[str, Any]]:
    with transaction(request) as session:
        jobs.get_job(session, job_id)
        rows = session.scalars(select(Artifact).where(Artifact.job_id == job_id)
                               .order_by(Artifact.id))
        return [{"id": a.id, "attempt": a.attempt, "name": a.name, "size": a.size} for a in rows]


@router.get("/{job_id}/artifacts/{artifact_id}", response_class=FileResponse, responses={200: {
    "description": "the file, as the robot wrote it",
    "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}}})
def artifact(job_id: Id, artifact_id: Id, caller: Reader, request: Request) -> FileResponse:
    with transaction(request) as session:
        found = session.get(Artifact, artifact_id)
        if found is None or found.job_id != job_id:
            raise NotFound(f"job {job_id} has no artifact {artifact_id}")
        return FileResponse(found.path, filename=found.name.rsplit("/", 1)[-1])
