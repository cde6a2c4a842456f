"""What workers call: lease (long-poll), heartbeat, events, artifacts, complete, bundles.

Worker tokens can call these and nothing else."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response, status
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from orchestrator import jobs, vault
from orchestrator.api.deps import Id, SessionDep, SettingsDep, WorkerCaller
from orchestrator.models import Artifact, Credential, Job, RobotVersion
from orchestrator.settings import Settings

router = APIRouter(prefix="/api/v1", tags=["workers"])
Name = Annotated[str, Field(min_length=1, max_length=200)]


class LeaseRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    worker: Name
    labels: list[Annotated[str, Field(max_length=100)]] = Field(default_factory=list,
                                                                max_length=50)
    wait_s: float = Field(20.0, ge=0, le=60, description="long-poll up to this long")


class Holder(BaseModel):
    model_config = ConfigDict(extra="forbid")
    worker: Name
    attempt: int = Field(ge=1, le=10_000)


class EventBatch(Holder):
    events: list[dict[str, Any]] = Field(max_length=5000)


class Completion(Holder):
    status: str = Field(pattern="^(passed|failed|cancelled|timed_out)$")
    error: dict[str, Any] | None = None
    result: dict[str, Any] | None = None


def _lease_payload(request: Request, job: Job, settings: Settings) -> dict[str, Any]:
    """What the worker needs to run the job, credentials included (only in this answer)."""
    with request.app.state.sessions.begin() as session:
        version = session.get(RobotVersion, job.version)
        assert version is not None
        # Credentials missing from the vault are left out: the runner then stops the job before
        # any step with "credential 'x' is not available" (a robot-file error, never retried).
        wanted = [n for n in version.credentials if session.get(Credential, n) is not None]
        try:
            credentials = vault.reveal(session, settings, wanted) if wanted else {}
        except vault.VaultError as err:
            raise jobs.JobError(503, f"the vault cannot be read: {err}") from None
        return {"job": {"id": job.id, "attempt": job.attempt, "robot": job.robot,
                        "version": job.version, "file": version.file, "inputs": job.inputs,
                        "credentials": credentials, "timeout_s": job.timeout_s,
                        "lease_seconds": settings.lease_seconds}}


@router.post("/lease", responses={204: {"description": "no job for this worker right now"}})
def lease(body: LeaseRequest, caller: WorkerCaller, request: Request,
          settings: SettingsDep) -> Any:
    """The next job this worker can run, waiting up to wait_s for one to arrive."""
    deadline = time.monotonic() + min(body.wait_s, settings.long_poll_seconds)
    while True:
        seen = jobs.arrivals.count
        with request.app.state.sessions.begin() as session:
            job = jobs.lease(session, worker=body.worker, labels=body.labels, settings=settings)
        if job is not None:
            return _lease_payload(request, job, settings)
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return Response(status_code=status.HTTP_204_NO_CONTENT)
        # woken by jobs committed in this process; other processes' jobs are seen by polling
        jobs.arrivals.wait(seen, min(0.2, remaining))


@router.post("/jobs/{job_id}/heartbeat")
def heartbeat(job_id: Id, body: Holder, caller: WorkerCaller, session: SessionDep,
              settings: SettingsDep) -> dict[str, Any]:
    job = jobs.heartbeat(session, job_id=job_id, worker=body.worker, attempt=body.attempt,
                         settings=settings)
    return {"cancel": job.cancel_requested, "lease_expires": job.lease_expires}


@router.post("/jobs/{job_id}/events")
def add_events(job_id: Id, body: EventBatch, caller: WorkerCaller,
               session: SessionDep) -> dict[str, int]:
    return {"stored": jobs.add_events(session, job_id=job_id, worker=body.worker,
                                      attempt=body.attempt, events=body.events)}


@router.put("/jobs/{job_id}/artifacts/{name:path}", status_code=status.HTTP_201_CREATED)
async def upload_artifact(job_id: Id, name: str, request: Request, caller: WorkerCaller,
                          worker: Annotated[str, Query(min_length=1, max_length=200)],
                          attempt: Annotated[int, Query(ge=1, le=10_000)]) -> dict[str, Any]:
    """A screenshot, download or result file of the attempt (raw body)."""
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
    job = jobs.complete(session, job_id=job_id, worker=body.worker, attempt=body.attempt,
                        status=body.status, error=body.error, result=body.result,
                        settings=settings)
    return {"id": job.id, "state": job.state}


@router.get("/bundles/{digest}")
def bundle(digest: Annotated[str, Field(pattern="^[0-9a-f]{64}$")], caller: WorkerCaller,
           session: SessionDep) -> Response:
    version = session.get(RobotVersion, digest)
    if version is None:
        raise jobs.JobError(404, f"no robot version {digest}")
    return Response(version.bundle, media_type="application/zip")
