"""What workers call: lease (long-poll), heartbeat, events, artifacts, complete, release,
bundles.

Worker tokens can call these (and the work-queue routes) and nothing else, each only as the
worker it was created for (Caller.act_as in deps.py)."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from sqlalchemy import select

from libs.events import RunEvent
from orchestrator import arrivals, dispatch, jobs
from orchestrator.api.deps import MAX_ID, Id, SettingsDep, WorkerCaller, in_database, transaction
from orchestrator.api.statuses import status_of
from orchestrator.models import Artifact, Job, RobotVersion
from orchestrator.refusals import Conflict, Forbidden, Invalid
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
    slots: int | None = Field(None, ge=1, le=dispatch.MAX_BATCH,
                              description="all the worker's slots (robots it runs at once), "
                                          "busy or free, shown with the workers; leave it "
                                          "out when unknown")
    finished: list[Finished] = Field(
        default_factory=list, max_length=dispatch.MAX_BATCH,
        description="attempts of this worker that ended since it last asked; each is "
                    "recorded (as by POST /jobs/{id}/complete) before anything is leased")


class Assignment(BaseModel):
    """A leased job, with what the worker needs to run it."""
    model_config = ConfigDict(extra="allow")
    id: int
    attempt: int
    robot: str
    version: str = Field(description="the bundle's digest: GET /bundles/{version}")
    file: str = Field(description="the robot file in the bundle")
    inputs: dict[str, Any]
    credentials: dict[str, dict[str, str]] = Field(
        description="the robot's credentials from the vault (only this answer carries them)")
    credential_hosts: dict[str, list[str] | None] = Field(
        description="where each credential's secrets may be sent (null: any allowed host)")
    timeout_s: float | None
    lease_seconds: float = Field(description="heartbeat well within this")
    skip_items: list[str] = Field(description="work item ids done before: skipped")
    labels: list[str] = Field(default_factory=list, description="the job's labels: desktop "
                              "asks for a display of its own for the robot")
    job_token: str = Field(description="for the robot's work-queue calls, for this attempt")


class ReportAnswer(BaseModel):
    """One answer per reported ending: the job's state, or why the report was refused."""
    id: int
    state: JobState | None = None
    status: int | None = Field(None, description="refused: 409 (not this worker's lease any "
                                                 "more), 404 (no such job), 422")
    error: str | None = None


class Leased(BaseModel):
    jobs: list[Assignment]
    finished: list[ReportAnswer] = Field(description="in the order the endings were sent")


class Beat(BaseModel):
    cancel: bool = Field(description="the job's cancel was asked: stop the robot")
    lease_expires: dt.datetime | None


class JobStateView(BaseModel):
    id: int
    state: JobState


class StoredArtifact(BaseModel):
    name: str = Field(description="relative to the run's output folder")
    size: int


def _numbered(event: RunEvent) -> RunEvent:
    """Each event of a batch carries seq, its line in events.jsonl (how a batch sent twice is
    stored once): without it every event would be the same one."""
    seq = event.get("seq")  # the worker's, not the runner's
    if type(seq) is not int or not 1 <= seq <= MAX_ID:
        raise ValueError("seq must be the event's line number in events.jsonl, from 1")
    return event


class EventBatch(Holder):
    events: list[Annotated[RunEvent, AfterValidator(_numbered)]] = Field(
        max_length=5000, description="events as the runner wrote them to events.jsonl (one "
        "of the types below, by `type`; fields added by a later runner are kept), each with "
        "`seq`: its line number there")


def event_problem(loc: tuple[Any, ...], error: Mapping[str, Any], body: Any) -> str:
    """A sentence for what is wrong with an event of a batch, naming the event (its place in
    the batch, its type and seq) and the field; `loc` starts at the event's index."""
    index, rest = loc[0], loc[1:]
    event = _item(body, index)
    kind, seq = event.get("type"), event.get("seq")
    seq_shown = f", seq {seq}" if isinstance(seq, int) else ""
    named = f"events[{index}]" + (f" ({kind[:100]}{seq_shown})" if isinstance(kind, str) else "")
    if error.get("type") == "union_tag_invalid":
        known = error.get("ctx", {}).get("expected_tags", "")
        return f"{named}: {str(kind)[:100]!r} is not an event type (known: {known})"
    if error.get("type") == "union_tag_not_found":
        return f"{named}: it has no 'type' (run.start, step.end, ...)"
    field = ".".join(str(p) for p in rest[1:])  # rest[0] is the type the event was read as
    message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
    if not field:
        return f"{named}: {message}"
    if error.get("type") == "missing":
        return f"{named}: field '{field}' is required"
    return f"{named}: field '{field}': {message}"


def _item(body: Any, index: Any) -> dict[str, Any]:
    events = body.get("events") if isinstance(body, dict) else None
    if isinstance(events, list) and isinstance(index, int) and 0 <= index < len(events) \
            and isinstance(events[index], dict):
        return events[index]
    return {}


# The workers' own calls are documented, not validated: lease and heartbeat answers are built
# here from database rows and sent as they are (their validation would cost more than the
# statements on the hot path).
@router.post("/lease", response_model=None, responses={
    200: {"model": Leased},
    204: {"description": "no job for this worker right now (and nothing was reported)"}})
async def lease(body: LeaseRequest, caller: WorkerCaller, request: Request,
                settings: SettingsDep) -> Any:
    """Report ended attempts, then take up to max_jobs jobs this worker can run, waiting up
    to wait_s for one to arrive. Answers {"jobs": [...], "finished": [one answer per report:
    {"id", "state"} or {"id", "status", "error"}]}; each job carries what the worker needs to
    run it, its credentials included (this is the only answer that carries them), and a job
    token for the robot's work queues (valid for that attempt's queue routes until it ends).

    The worker is the token's: naming another worker, or asking with labels the token was not
    granted, is refused with 403. While it waits, the request holds no thread and no database
    connection (orchestrator/arrivals.py wakes it when a job it can run is committed, in this
    process or another); a worker that hangs up stops waiting and is leased nothing."""
    caller.act_as(body.worker, body.labels)
    deadline = time.monotonic() + min(body.wait_s, settings.long_poll_seconds)
    endings = [dispatch.Ending(f.job_id, body.worker, f.attempt, f.status, f.error, f.result)
               for f in body.finished]
    have = dispatch.usable_labels(body.labels, caller.labels)
    finished: list[dict[str, Any]] = []
    hung_up: asyncio.Task[Any] | None = None
    try:
        while True:
            seen = arrivals.arrivals.count
            reported, leased = await run_in_threadpool(_lease_round, request, body, caller,
                                                       settings, endings)
            if endings:  # reported in the first round, in the lease's transaction
                finished, endings = reported, []
            remaining = deadline - time.monotonic()
            if leased or (finished and remaining <= 0) or body.max_jobs == 0:
                return JSONResponse({"jobs": leased, "finished": finished})
            if remaining <= 0:
                return Response(status_code=status.HTTP_204_NO_CONTENT)
            hung_up = hung_up or asyncio.ensure_future(_hang_up(request))
            woken = asyncio.ensure_future(arrivals.arrivals.wait(have, seen, remaining))
            await asyncio.wait((woken, hung_up), return_when=asyncio.FIRST_COMPLETED)
            if hung_up.done():
                woken.cancel()
                return Response(status_code=status.HTTP_204_NO_CONTENT)  # nobody to send it to
    finally:
        if hung_up is not None:
            hung_up.cancel()


def _in_words(answer: dict[str, Any]) -> dict[str, Any]:
    """A report's answer as the worker reads it: {"id", "state"} or {"id", "status", "error"}."""
    refused = answer.get("refused")
    if refused is None:
        return answer
    return {"id": answer["id"], "status": status_of(refused), "error": str(refused)}


def _lease_round(request: Request, body: LeaseRequest, caller: Any, settings: Settings,
                 endings: list[dispatch.Ending]) -> tuple[list[dict[str, Any]],
                                                          list[dict[str, Any]]]:
    """One look for jobs (in the thread pool: the database is not asyncio's), with the
    reported endings in the same transaction: one commit for both."""
    with request.app.state.sessions.begin() as session:
        finished = [_in_words(answer) for answer in
                    (dispatch.complete(session, endings, settings) if endings else [])]
        leased = dispatch.lease(session, worker=body.worker, labels=body.labels,
                                granted=caller.labels, settings=settings,
                                max_jobs=body.max_jobs, slots=body.slots)
    return finished, leased


async def _hang_up(request: Request) -> None:
    """Returns when the client closes its connection (the body has been read by then, so
    the next ASGI message is the disconnect)."""
    while (await request.receive())["type"] != "http.disconnect":
        pass


@router.post("/jobs/{job_id}/heartbeat", response_model=None, responses={200: {"model": Beat}})
async def heartbeat(job_id: Id, body: Holder, caller: WorkerCaller, request: Request,
                    settings: SettingsDep) -> Any:
    caller.act_as(body.worker)
    return await in_database(request, lambda conn: jobs.heartbeat(
        conn, job_id=job_id, worker=body.worker, attempt=body.attempt, settings=settings),
        single=True)


class Stored(BaseModel):
    stored: int = Field(description="events of the batch (those sent before are kept once)")


@router.post("/jobs/{job_id}/events", response_model=None, responses={200: {"model": Stored}})
async def add_events(job_id: Id, body: EventBatch, caller: WorkerCaller,
                     request: Request) -> dict[str, int]:
    caller.act_as(body.worker)
    return {"stored": await in_database(request, lambda conn: jobs.add_events(
        conn, job_id=job_id, worker=body.worker, attempt=body.attempt, events=body.events),
        single=True)}


MAX_ARTIFACT_NAME = 400  # characters of an artifact's path in its run folder
MAX_PATH = 1000  # characters of the stored path (Artifact.path)


def artifact_parts(name: str) -> list[str]:
    """The parts of an artifact's name, or 422: a relative path without '..', storable (no NUL,
    no lone surrogate) and short enough for the file system (255 bytes a part)."""
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if not parts or ".." in parts or name.startswith("/") or len(name) > MAX_ARTIFACT_NAME:
        raise Invalid(f"artifact name '{name[:100]}' must be a relative path "
                      f"without '..', at most {MAX_ARTIFACT_NAME} characters")
    if "\x00" in name:
        raise Invalid("an artifact name must not contain NUL characters")
    try:
        too_long = any(len(p.encode("utf-8")) > 255 for p in parts)
    except UnicodeEncodeError:
        raise Invalid("an artifact name must be valid UTF-8 text") from None
    if too_long:
        raise Invalid("each part of an artifact name must be at most 255 bytes")
    return parts


@router.put("/jobs/{job_id}/artifacts/{name:path}", status_code=status.HTTP_201_CREATED,
            response_model=StoredArtifact)
async def upload_artifact(job_id: Id, name: str, request: Request, caller: WorkerCaller,
                          worker: Annotated[str, Query(min_length=1, max_length=200)],
                          attempt: Annotated[int, Query(ge=1, le=10_000)]) -> dict[str, Any]:
    """A screenshot, download or result file of the attempt (raw body, streamed to disk; at
    most WORKHAND_MAX_ARTIFACT_BYTES)."""
    caller.act_as(worker)
    parts = artifact_parts(name)
    settings: Settings = request.app.state.settings
    folder = settings.artifacts_dir / str(job_id) / str(attempt)
    if len(str(folder.resolve() / Path(*parts))) > MAX_PATH:
        raise Invalid("the artifact name is too long to be stored; use a shorter one")
    # The database work runs in the thread pool: a SQLite write lock held on the event loop
    # would block the threads whose commits need that loop (a deadlock until busy_timeout).
    # The lease is checked before the body is read, and again when the file is stored.
    await run_in_threadpool(_holding, request, job_id, worker, attempt)
    temp = await _receive(request, folder)
    try:
        return await run_in_threadpool(_store_artifact, request, job_id, parts, worker,
                                       attempt, temp)
    finally:
        temp.unlink(missing_ok=True)


def _holding(request: Request, job_id: int, worker: str, attempt: int) -> None:
    with request.app.state.sessions() as session:
        jobs.holding(session, job_id, worker, attempt)


async def _receive(request: Request, folder: Path) -> Path:
    """The body, written to a temporary file in the attempt's folder as it arrives (the guard
    stops it at the size limit with 413)."""
    folder.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=folder, prefix=".upload-")
    temp = Path(name)
    try:
        with os.fdopen(fd, "wb") as out:
            async for chunk in request.stream():
                out.write(chunk)  # page-cache writes of ~64 KiB: quicker than a thread hop
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    return temp


def _store_artifact(request: Request, job_id: int, parts: list[str], worker: str,
                    attempt: int, temp: Path) -> dict[str, Any]:
    settings: Settings = request.app.state.settings
    member = "/".join(parts)
    size = temp.stat().st_size
    with request.app.state.sessions.begin() as session:
        jobs.holding(session, job_id, worker, attempt)
        target = settings.artifacts_dir / str(job_id) / str(attempt) / Path(*parts)
        if target.is_dir():
            raise Conflict(f"artifact '{member}' names a folder of this attempt's "
                           "artifacts; give the file another name")
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(temp, target)
        except (FileExistsError, NotADirectoryError):
            raise Conflict(f"artifact '{member}' would be inside another artifact "
                           "of this attempt, which is a file; give it another "
                           "name") from None
        except OSError as err:
            raise Invalid(f"artifact '{member}' cannot be stored under that name "
                          f"({err.strerror})") from None
        existing = session.scalar(select(Artifact).where(
            Artifact.job_id == job_id, Artifact.attempt == attempt, Artifact.name == member))
        if existing is None:
            session.add(Artifact(job_id=job_id, attempt=attempt, name=member, path=str(target),
                                 size=size))
        else:
            existing.size = size
    return {"name": member, "size": size}


@router.post("/jobs/{job_id}/complete", response_model=JobStateView)
def complete(job_id: Id, body: Completion, caller: WorkerCaller, request: Request,
             settings: SettingsDep) -> dict[str, Any]:
    """Report how an attempt ended (a worker can also report it with its next lease)."""
    with transaction(request) as session:
        caller.act_as(body.worker)
        state = dispatch.complete_one(session, dispatch.Ending(
            job_id, body.worker, body.attempt, body.status, body.error, body.result), settings)
        return {"id": job_id, "state": state}


class Release(Holder):
    reason: str = Field("", max_length=500, description="why, in a sentence (audit)")


@router.post("/jobs/{job_id}/release", response_model=JobStateView)
def release(job_id: Id, body: Release, caller: WorkerCaller,
            request: Request) -> dict[str, Any]:
    """Hand back an attempt this worker will not finish (it is stopping): the job is queued
    again at once for any worker, and the attempt, recorded as released, is no try (a job with
    max_attempts=1 keeps its one try), no run in the KPI; its queue items in progress go back to
    new. 409 unless the worker holds the attempt; sent again (the answer was lost) while the
    job was not leased since, the job's state again. A job whose cancel was asked is cancelled."""
    with transaction(request) as session:
        caller.act_as(body.worker)
        state = dispatch.release(session, job_id, body.worker, body.attempt, body.reason)
        return {"id": job_id, "state": state}


@router.get("/bundles/{digest}", response_class=Response, responses={200: {
    "description": "the bundle: a zip of the robot folder",
    "content": {"application/zip": {"schema": {"type": "string", "format": "binary"}}}}})
def bundle(digest: Annotated[str, Field(pattern="^[0-9a-f]{64}$")], caller: WorkerCaller,
           request: Request) -> Response:
    """A robot version's bundle, for a worker running a job of that version (403 otherwise,
    whether or not the version exists: a bundle is the robot's code and data)."""
    with transaction(request) as session:
        held = session.scalar(select(Job.id).where(
            Job.state == JobState.RUNNING.value, Job.worker == caller.worker,
            Job.version == digest).limit(1))
        version = session.get(RobotVersion, digest) if held is not None else None
        if version is None:
            raise Forbidden(f"worker '{caller.worker}' holds no running job of robot "
                            f"version {digest}; a bundle goes only to the workers "
                            "running it")
        return Response(version.bundle, media_type="application/zip")
