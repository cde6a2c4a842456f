"""今日 Today, 运行记录 Runs and a run's detail: what the operations team watches all day."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import FileResponse, RedirectResponse, Response
from sqlalchemy import select

from orchestrator import audit, jobs, runs
from orchestrator.console import i18n
from orchestrator.console.web import ConsoleError, Operator, Viewer, render, zone
from orchestrator.models import Artifact, Job, Robot, Worker
from orchestrator.states import FINAL, JobState

router = APIRouter(prefix="/console", include_in_schema=False)
BULK_LIMIT = 1000  # runs one bulk action may touch (the confirmation says how many)


@router.get("/")
def today_page(request: Request, person: Viewer, part: str = "") -> Response:
    with request.app.state.sessions.begin() as session:
        overview = runs.overview(session, request.app.state.settings)
    return render(request, "today_live.html" if part == "live" else "today.html",
                  overview=overview, seconds=runs.run_seconds, states=list(JobState))


def _date(value: str | None, what: str, language: str) -> dt.datetime | None:
    if not value:
        return None
    try:
        day = dt.date.fromisoformat(value)
    except ValueError:
        raise ConsoleError(422, f"{what}: '{value}' is not a date (YYYY-MM-DD)") from None
    return dt.datetime.combine(day, dt.time(), zone()).astimezone(dt.UTC)


def _filter(request: Request, robot: str | None, state: str | None, worker: str | None,
            since: str | None, until: str | None) -> runs.RunFilter:
    language = request.state.person.user.language
    chosen = None
    if state:
        try:
            chosen = JobState(state)
        except ValueError:
            raise ConsoleError(422, f"state '{state}' is not one of "
                                    f"{', '.join(s.value for s in JobState)}") from None
    end = _date(until, "to", language)
    return runs.RunFilter(robot=robot or None, state=chosen, worker=worker or None,
                          since=_date(since, "from", language),
                          until=end + dt.timedelta(days=1) if end else None)


Text = Annotated[str | None, Query(max_length=200)]


@router.get("/runs")
def runs_page(request: Request, person: Viewer, robot: Text = None, state: Text = None,
              worker: Text = None, since: Text = None, until: Text = None,
              before: Annotated[int | None, Query(ge=1)] = None, part: str = "") -> Response:
    where = _filter(request, robot, state, worker, since, until)
    with request.app.state.sessions.begin() as session:
        rows = runs.find(session, where, before=before, limit=runs.PAGE + 1)
        cancellable = runs.count_unfinished(session, where, BULK_LIMIT)
        robots = list(session.scalars(select(Robot.name).order_by(Robot.name)))
        workers = list(session.scalars(select(Worker.name).order_by(Worker.name)))
    more = len(rows) > runs.PAGE
    rows = rows[:runs.PAGE]
    return render(request, "runs_rows.html" if part == "rows" else "runs.html",
                  rows=rows, more=more, robots=robots, workers=workers, states=list(JobState),
                  seconds=runs.run_seconds, final=[s.value for s in FINAL],
                  cancellable=cancellable)


@router.post("/runs/bulk")
def bulk(request: Request, person: Operator, action: Annotated[str, Form(max_length=20)],
         scope: Annotated[str, Form(max_length=20)],
         robot: Annotated[str, Form(max_length=200)] = "",
         state: Annotated[str, Form(max_length=20)] = "",
         worker: Annotated[str, Form(max_length=200)] = "",
         since: Annotated[str, Form(max_length=20)] = "",
         until: Annotated[str, Form(max_length=20)] = "",
         selected: Annotated[list[int] | None, Form()] = None) -> Response:
    """Cancel the selected runs, or every unfinished run the filter shows; retry the selected
    runs that have ended (up to BULK_LIMIT)."""
    if action not in ("cancel", "retry"):
        raise ConsoleError(422, f"bulk action '{action}' is not offered (cancel, retry)")
    if action == "retry" and scope != "selected":
        raise ConsoleError(422, "retry applies to the runs you select")
    if scope not in ("selected", "filter"):
        raise ConsoleError(422, f"scope '{scope}' is neither 'selected' nor 'filter'")
    if scope == "selected" and not selected:
        raise ConsoleError(422, i18n.text("Select the runs first (the boxes on the left).",
                                          person.user.language))
    where = _filter(request, robot, state, worker, since, until)
    done = 0
    with request.app.state.sessions.begin() as session:
        chosen = selected if scope == "selected" and selected else \
            runs.unfinished_ids(session, where, BULK_LIMIT)
        for job_id in chosen[:BULK_LIMIT]:
            job = session.get(Job, job_id)
            ended = job is not None and job.state in {s.value for s in FINAL}
            if job is not None and action == "cancel" and not ended:
                jobs.cancel(session, job_id)
                done += 1
            elif action == "retry" and ended:
                jobs.retry(session, job_id, source="console")
                done += 1
    audit.note(request.state, object=f"{done} run(s)", action=action,
               runs=list(chosen[:BULK_LIMIT]), filter={"robot": robot, "state": state,
                                                       "worker": worker, "since": since,
                                                       "until": until})
    message = i18n.text("{count} run(s) cancelled." if action == "cancel"
                        else "{count} run(s) started again.", person.user.language, count=done)
    back = "/console/runs" + (f"?{request.url.query}" if request.url.query else "")
    return render(request, "notice.html", message=message, back=back)


@router.get("/runs/{job_id}")
def run_page(request: Request, person: Viewer, job_id: int, part: str = "") -> Response:
    with request.app.state.sessions.begin() as session:
        found = runs.detail(session, job_id)
    return render(request, "run_live.html" if part == "live" else "run.html", run=found,
                  final=found.job.state in {s.value for s in FINAL},
                  seconds=runs.run_seconds(found.job))


@router.post("/runs/{job_id}/cancel")
def cancel_run(request: Request, person: Operator, job_id: int) -> Response:
    with request.app.state.sessions.begin() as session:
        jobs.cancel(session, job_id)
    return RedirectResponse(f"/console/runs/{job_id}", status_code=303)


@router.post("/runs/{job_id}/retry")
def retry_run(request: Request, person: Operator, job_id: int,
              only_failed: Annotated[bool, Form()] = False) -> Response:
    """A new run of what this one ran; with only_failed, the items done in it (or in the runs
    it retried) are skipped by the robot."""
    with request.app.state.sessions.begin() as session:
        job = jobs.retry(session, job_id, only_failed_items=only_failed, source="console")
        new_id, skipped = job.id, len(job.skip_items or [])
    audit.note(request.state, object=f"job {job_id}", retry=new_id, only_failed=only_failed,
               skipped=skipped)
    return RedirectResponse(f"/console/runs/{new_id}", status_code=303)


@router.get("/runs/{job_id}/artifacts/{artifact_id}")
def artifact_file(request: Request, person: Viewer, job_id: int, artifact_id: int,
                  download: bool = False) -> Response:
    with request.app.state.sessions.begin() as session:
        found = session.get(Artifact, artifact_id)
        if found is None or found.job_id != job_id:
            raise ConsoleError(404, f"run {job_id} has no artifact {artifact_id}")
        path, name = found.path, found.name.rsplit("/", 1)[-1]
    inline = name.lower().endswith((".png", ".jpg", ".jpeg")) and not download
    # never rendered as a page of ours: a robot's HTML file could carry script
    return FileResponse(path, filename=name, content_disposition_type="inline" if inline
                        else "attachment", headers={"Content-Security-Policy": "sandbox",
                                                    "X-Content-Type-Options": "nosniff"})
