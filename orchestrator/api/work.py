"""What workers call: lease (long-poll), heartbeat, events, artifacts, complete, bundles.

Worker tokens can call these (and the work-queue routes) and nothing else, each only as the
worker it was created for (Caller.act_as in deps.py)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from orchestrator import dispatch, jobs
from orchestrator.api.deps import MAX_ID, Id, SessionDep, SettingsDep, WorkerCaller
from orchestrator.models import Artifact, Job, RobotVersion
from orchestrator.settings import Settings
from orchestrator.states import JobState

router = APIRouter(prefix="/api/v1", tags=["workers"])
Name = Annotated[str, Field(min_length=1, max_length=200)]


class Holder(BaseModel):
    model_config = ConfigDict(extra="forbid")
    worker: Name
    attempt: int = Field(ge=1, le=10_000)


class Report(BaseModel):
    """How an attempt ended."""
    model_config = ConfigDict(extra="forbid")
    attempt: int = Field(ge=1, le=10_000)
    status: str = Field(pattern="^(passed|failed|cancelled|timed_out)$")
    error: dict[str, Any] | None = None
    result: dict[str, Any] | None = None


class Completion(Report):
    worker: Name


class Finished(Report):
    """An attempt that ended, reported with the worker's next lease request."""
    job_id: int = Field(ge=1, le=MAX_ID)


class LeaseRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    worker: Name
    labels: list[Annotated[str, Field(max_length=100)]] = Field(default_factory=list,
                                                                max_length=50)
    wait_s: float = Field(20.0, ge=0, le=60, description="long-poll up to this long")
    max_jobs: int = Field(1, ge=0, le=dispatch.MAX_BATCH,
                          description="free slots of the worker: lease up to this many jobs")
    finished: list[Finished] = Field(
        default_factory=list, max_length=dispatch.MAX_BATCH,
        description="attempts of this worker that ended since it last asked; each is "
                    "recorded (as by POST /jobs/{id}/complete) before anything is leased")


class EventBatch(Holder):
    events: list[dict[str, Any]] = Field(max_length=5000)


@router.post("/lease", responses={204: {"description": "no job for this worker right now "
                                                      "(and nothing was reported)"}})
def lease(body: LeaseRequest, caller: WorkerCaller, request: Request,
          settings: SettingsDep) -> Any:
    """Report ended attempts, then take up to max_jobs jobs this worker can run, waiting up
    to wait_s for one to arrive. Answers {"jobs": [...], "finished": [one answer per report:
    {"id", "state"} or {"id", "status", "error"}]}; each job carries what the worker needs to
    run it, its credentials included (this is the only answer that carries them), and a job
    token for the robot's work queues (valid for that attempt's queue routes until it ends).

    The worker is the token's: naming another worker, or asking with labels the token was not
    granted, is refused with 403."""
    caller.act_as(body.worker, body.labels)
    deadline = time.monotonic() + min(body.wait_s, settings.long_poll_seconds)
    endings = [dispatch.Ending(f.job_id, body.worker, f.attempt, f.status, f.error, f.result)
               for f in body.finished]
    finished: list[dict[str, Any]] = []
    while True:
        seen = jobs.arrivals.count
        with request.app.state.sessions.begin() as session:
            if endings:  # in the first round's transaction: one commit for both
                finished = dispatch.complete(session, endings, settings)
                endings = []
            leased = dispatch.lease(session, worker=body.worker, labels=body.labels,
                                    granted=caller.labels, settings=settings,
                                    max_jobs=body.max_jobs)
        remaining = deadline - time.monotonic()
        if leased or (finished and remaining <= 0) or body.max_jobs == 0:
            return JSONResponse({"jobs": leased, "finished": finished})
        if remaining <= 0:
            return Response(status_code=status.HTTP_204_NO_CONTENT)
        # woken by jobs committed in this process; other processes' jobs are seen by polling
        jobs.arrivals.wait(seen, min(0.2, remaining))


@router.post("/jobs/{job_id}/heartbeat")
def heartbeat(job_id: Id, body: Holder, caller: WorkerCaller, session: SessionDep,
              settings: SettingsDep) -> dict[str, Any]:
    caller.act_as(body.worker)
    job = jobs.heartbeat(session, job_id=job_id, worker=body.worker, attempt=body.attempt,
                         settings=settings)
    return {"cancel": job.cancel_requested, "lease_expires": job.lease_expires}


@router.post("/jobs/{job_id}/events")
def add_events(job_id: Id, body: EventBatch, caller: WorkerCaller,
               session: SessionDep) -> dict[str, int]:
    caller.act_as(body.worker)
    return {"stored": jobs.add_events(session, job_id=job_id, worker=body.worker,
                                      attempt=body.attempt, events=body.events)}


@router.put("/jobs/{job_id}/artifacts/{name:path}", status_code=status.HTTP_201_CREATED)
async def upload_artifact(job_id: Id, name: str, request: Request, caller: WorkerCaller,
                          worker: Annotated[str, Query(min_length=1, max_length=200)],
                          attempt: Annotated[int, Query(ge=1, le=10_000)]) -> dict[str, Any]:
    """A screenshot, download or result file of the attempt (raw body)."""
    caller.act_as(worker)
    parts = [p for p in Path(name).parts if p not in ("", ".")]
    if not parts or ".." in parts or Path(name).is_absolute() or len(name) > 400:
        raise jobs.JobError(422, f"artifact name '{name}' must be a relative path without '..'")
    body = await request.body()
    # The database work runs in the thread pool: a SQLite write lock held on the event loop
    # would block the threads whose commits need that loop (a deadlock until busy_timeout).
    return await run_in_threadpool(_store_artifact, request, job_id, parts, worker, attempt,
                                   body)


def _store_artifact(request: Request, job_id: int, parts: list[str], worker: str,
                    attempt: int, body: bytes) -> dict[str, Any]:
    settings: Settings = request.app.state.settings
    with request.app.state.sessions.begin() as session:
        jobs.holding(session, job_id, worker, attempt)
        target = settings.artifacts_dir / str(job_id) / str(attempt) / Path(*parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(body)
        member = "/".join(parts)
        existing = session.scalar(select(Artifact).where(
            Artifact.job_id == job_id, Artifact.attempt == attempt, Artifact.name == member))
        if existing is None:
            session.add(Artifact(job_id=job_id, attempt=attempt, name=member, path=str(target),
                                 size=len(body)))
        else:
            existing.size = len(body)
    return {"name": member, "size": len(body)}


@router.post("/jobs/{job_id}/complete")
def complete(job_id: Id, body: Completion, caller: WorkerCaller, session: SessionDep,
             settings: SettingsDep) -> dict[str, Any]:
    """Report how an attempt ended (a worker can also report it with its next lease)."""
    caller.act_as(body.worker)
    state = dispatch.complete_one(session, dispatch.Ending(
        job_id, body.worker, body.attempt, body.status, body.error, body.result), settings)
    return {"id": job_id, "state": state}


@router.get("/bundles/{digest}")
def bundle(digest: Annotated[str, Field(pattern="^[0-9a-f]{64}$")], caller: WorkerCaller,
           session: SessionDep) -> Response:
    """A robot version's bundle, for a worker running a job of that version (403 otherwise,
    whether or not the version exists: a bundle is the robot's code and data)."""
    held = session.scalar(select(Job.id).where(
        Job.state == JobState.RUNNING.value, Job.worker == caller.worker,
        Job.version == digest).limit(1))
    version = session.get(RobotVersion, digest) if held is not None else None
    if version is None:
        raise jobs.JobError(403, f"worker '{caller.worker}' holds no running job of robot "
                                 f"version {digest}; a bundle goes only to the workers "
                                 "running it")
    return Response(version.bundle, media_type="application/zip")
