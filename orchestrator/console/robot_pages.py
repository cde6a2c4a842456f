"""机器人 Robots: the catalogue, a robot's versions (and the diff of two), its schedules and
savings, and starting a run through a form made from the robot's declared inputs."""

from __future__ import annotations

import datetime as dt
import difflib
import io
import zipfile
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from libs.checks.inputs import coerce_input
from libs.plan import Input
from orchestrator import audit, jobs, kpi, runs
from orchestrator.console.web import ConsoleError, Starter, Viewer, render
from orchestrator.models import Job, Robot, RobotVersion, Schedule

router = APIRouter(prefix="/console", include_in_schema=False)
TYPE_WORDS = {"text": "文本", "path": "路径", "integer": "整数", "number": "数字",
              "boolean": "是/否", "date": "日期", "list": "列表", "map": "键值表"}


def _robot(session: Session, name: str) -> tuple[Robot, RobotVersion]:
    robot = session.get(Robot, name)
    if robot is None:
        raise ConsoleError(404, f"no robot '{name}' is deployed")
    version = session.get(RobotVersion, robot.current)
    assert version is not None  # robots.current is a foreign key
    return robot, version


@router.get("/robots")
def robots_page(request: Request, person: Viewer) -> Response:
    day = runs.today()
    with request.app.state.sessions.begin() as session:
        rows = session.execute(
            select(Robot.name, Robot.updated, RobotVersion.title, RobotVersion.description,
                   RobotVersion.digest).join(RobotVersion, RobotVersion.digest == Robot.current)
            .order_by(Robot.name)).all()
        owners = dict(session.execute(
            select(RobotVersion.robot, func.min(RobotVersion.deployed_by))
            .group_by(RobotVersion.robot)).all())
        savings = {r["robot"]: r for r in kpi.query(
            session, request.app.state.settings, start=day - dt.timedelta(days=29),
            end=day)["robots"]}
        schedules = dict(session.execute(select(Schedule.robot, func.count())
                                         .group_by(Schedule.robot)).all())
    return render(request, "robots.html", rows=rows, owners=owners, savings=savings,
                  schedules=schedules)


def _robot_file(version: RobotVersion) -> list[str]:
    with zipfile.ZipFile(io.BytesIO(version.bundle)) as bundle:
        return bundle.read(version.file).decode("utf-8", "replace").splitlines()


@router.get("/robots/{name}")
def robot_page(request: Request, person: Viewer, name: str,
               a: Annotated[str | None, Query(max_length=64)] = None,
               b: Annotated[str | None, Query(max_length=64)] = None) -> Response:
    return _robot_view(request, name, a, b, values={}, problems={})


def _robot_view(request: Request, name: str, a: str | None, b: str | None,
                values: dict[str, str], problems: dict[str, str],
                status: int = 200) -> Response:
    day = runs.today()
    with request.app.state.sessions.begin() as session:
        robot, current = _robot(session, name)
        versions = list(session.execute(
            select(RobotVersion.digest, RobotVersion.deployed, RobotVersion.deployed_by,
                   RobotVersion.title).where(RobotVersion.robot == name)
            .order_by(RobotVersion.deployed.desc())))
        diff: list[str] = []
        if a and b:
            older, newer = session.get(RobotVersion, a), session.get(RobotVersion, b)
            if older is None or newer is None or {older.robot, newer.robot} != {name}:
                missing = a if older is None else b
                raise ConsoleError(404, f"robot '{name}' has no version {missing}")
            diff = list(difflib.unified_diff(_robot_file(older), _robot_file(newer),
                                             f"{a[:12]}/{older.file}", f"{b[:12]}/{newer.file}",
                                             lineterm=""))
        schedules = list(session.scalars(select(Schedule).where(Schedule.robot == name)
                                         .order_by(Schedule.name)))
        recent = runs.find(session, runs.RunFilter(robot=name), limit=10)
        figures = kpi.query(session, request.app.state.settings,
                            start=day - dt.timedelta(days=29), end=day, robots=[name])["totals"]
        session.expunge_all()
    return render(request, "robot.html", status=status, robot=robot, current=current,
                  versions=versions, diff=diff, schedules=schedules, recent=recent,
                  figures=figures, inputs=current.inputs, values=values, problems=problems,
                  type_words=TYPE_WORDS, seconds=runs.run_seconds)


def read_inputs(declared: list[dict[str, Any]], given: dict[str, str], language: str
                ) -> tuple[dict[str, Any], dict[str, str]]:
    """The form's values as the robot's input types, and a sentence per field that is not."""
    values: dict[str, Any] = {}
    problems: dict[str, str] = {}
    for spec in declared:
        name, kind = spec["name"], spec["type"]
        raw = given.get(name, "")
        if kind == "boolean":
            raw = "true" if raw in ("on", "true") else "false"
        if raw == "" and kind != "boolean":
            if spec.get("required"):
                problems[name] = ("请填写此项" if language == "zh" else "this input is required")
            continue  # the robot's default applies
        if spec.get("choices") and raw not in [str(c) for c in spec["choices"]]:
            shown = ", ".join(str(c) for c in spec["choices"])
            problems[name] = (f"请从以下选项中选择：{shown}" if language == "zh"
                              else f"choose one of: {shown}")
            continue
        try:
            values[name] = coerce_input(Input(name, kind), raw)
        except ValueError as err:
            problems[name] = (f"“{raw}”不是有效的{TYPE_WORDS.get(kind, kind)}" if language == "zh"
                              else str(err))
    return values, problems


@router.post("/robots/{name}/start")
async def start_run(request: Request, person: Starter, name: str) -> Response:
    form = await request.form()  # read already by the CSRF check: no second parse
    given = {k: v for k, v in form.items() if isinstance(v, str) and k != "csrf"}
    language = person.user.language
    job_id, problems = await run_in_threadpool(_start, request, language, name, given)
    if job_id is None:
        audit.note(request.state, object=f"robot {name}", refused=sorted(problems))
        return await run_in_threadpool(_robot_view, request, name, None, None, given, problems,
                                       422)
    audit.note(request.state, object=f"job {job_id}", robot=name)
    return RedirectResponse(f"/console/runs/{job_id}", status_code=303)


def _start(request: Request, language: str, name: str, given: dict[str, str]
           ) -> tuple[int | None, dict[str, str]]:
    with request.app.state.sessions.begin() as session:
        _, current = _robot(session, name)
        values, problems = read_inputs(current.inputs, given, language)
        if problems:
            return None, problems
        job: Job = jobs.create_job(session, robot=name, inputs=_plain(values), source="console")
        return job.id, {}


def _plain(values: dict[str, Any]) -> dict[str, Any]:
    """Inputs as JSON keeps them (a date as its ISO text)."""
    return {k: v.isoformat() if isinstance(v, dt.date) else v for k, v in values.items()}
