"""Deployed robots: list them, deploy a new version."""

from __future__ import annotations

import datetime as dt
import tempfile
import zipfile
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request, status
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field
from sqlalchemy import select

from orchestrator import deploy, workers
from orchestrator.api.deps import Deployer, Reader, transaction
from orchestrator.models import Robot, RobotVersion
from orchestrator.refusals import Invalid

router = APIRouter(prefix="/api/v1", tags=["robots"])


class RobotView(BaseModel):
    robot: str
    title: str
    version: str = Field(description="the current version's bundle digest")
    file: str
    deployed: dt.datetime = Field(description="when the current version became current")
    savings: dict[str, float] = Field(description="minutes_per_item, minutes_per_run, "
                                                  "review_minutes, build_cost")
    credentials: list[str]
    needs: list[str] = Field(description="the labels a worker must have to run it (desktop: "
                                         "a display), from the step libraries it uses; every "
                                         "job of it carries them")


class DeployedVersion(BaseModel):
    robot: str
    version: str
    needs: list[str] = Field(description="the labels its jobs carry: what a worker must offer")


class Deployed(BaseModel):
    deployed: list[DeployedVersion]


class WorkerView(BaseModel):
    name: str
    labels: list[str]
    last_seen: dt.datetime
    slots: int | None = Field(description="robots it runs at once, as it said when it last "
                                          "asked for jobs; null: it has not said")
    running_jobs: list[int] = Field(description="the ids of the jobs it runs now, oldest first")
    current_job: int | None = Field(description="the first of running_jobs (null: none), "
                                                "for clients older than running_jobs")


@router.get("/robots", response_model=list[RobotView])
def list_robots(caller: Reader, request: Request) -> list[dict[str, Any]]:
    with transaction(request) as session:
        rows = session.execute(select(Robot, RobotVersion).join(
            RobotVersion, Robot.current == RobotVersion.digest).order_by(Robot.name))
        return [{"robot": r.name, "title": v.title, "version": v.digest, "file": v.file,
                 "deployed": r.updated, "savings": v.savings, "credentials": v.credentials,
                 "needs": v.needs or []}
                for r, v in rows]


@router.post("/robots", status_code=status.HTTP_201_CREATED, response_model=Deployed)
async def upload(request: Request, caller: Deployer) -> dict[str, Any]:
    """Deploy from a zip of a robot folder (the robot file at the top, data/ beside it) or
    from one robot file (raw body). Answers with the new version's content hash."""
    body = await request.body()
    if not body:
        raise Invalid("send a robot file or a zip of a robot folder as the body")
    # off the event loop: the SQLite write lock must not be held there (see api/work.py)
    return await run_in_threadpool(_deploy_upload, request, body, caller.audit_name)


MAX_ROBOTS_PER_DEPLOY = 200  # robot files a deploy checks in one request (~5 ms-10 ms each)


def _deploy_upload(request: Request, body: bytes, by: str) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        if body.startswith(b"PK"):
            try:
                deploy.unpack(body, folder)
            except (zipfile.BadZipFile, ValueError) as err:
                raise Invalid(f"the zip cannot be used: {err}") from None
        else:
            (folder / "robot.yaml").write_bytes(body)
        robots = sorted(folder.glob("*.yaml"))
        if not robots:
            raise Invalid("the zip has no robot file (*.yaml) at its top level")
        if len(robots) > MAX_ROBOTS_PER_DEPLOY:  # each is checked and bundled in this request
            raise Invalid(f"the zip holds {len(robots)} robot files at its top "
                          f"level; deploy at most {MAX_ROBOTS_PER_DEPLOY} at a time "
                          "(split the folder into several zips)")
        with request.app.state.sessions.begin() as session:
            try:
                versions = [deploy.deploy_robot(session, path, by) for path in robots]
            except ValueError as err:  # too large
                raise Invalid(str(err)) from None
            return {"deployed": [{"robot": v.robot, "version": v.digest,
                                  "needs": v.needs or []} for v in versions]}


@router.get("/workers", response_model=list[WorkerView])
def list_workers(caller: Reader, request: Request) -> list[dict[str, Any]]:
    with transaction(request) as session:
        return [{"name": w.name, "labels": w.labels, "last_seen": w.last_seen,
                 "slots": w.slots, "running_jobs": w.running,
                 "current_job": w.running[0] if w.running else None}
                for w in workers.fleet(session)]
