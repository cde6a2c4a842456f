"""计划 Schedules, 工作队列 Queues and 工作站 Workers: what operators keep running."""

from __future__ import annotations

import datetime as dt
import tempfile
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select

from orchestrator import audit, jobs, queues, schedules, workers
from orchestrator.console.web import ConsoleError, Operator, Viewer, render
from orchestrator.jobs import aware, utcnow
from orchestrator.models import Attempt, QueueItem, Schedule
from orchestrator.queues import ItemState
from orchestrator.refusals import NotFound

router = APIRouter(prefix="/console", include_in_schema=False)
WEEKDAYS = {"Monday": "周一", "Tuesday": "周二", "Wednesday": "周三", "Thursday": "周四",
            "Friday": "周五", "Saturday": "周六", "Sunday": "周日"}


def cron_words(cron: str, language: str) -> str:
    """A cron expression in words ("在 08:00, 周一 到 周五"), by cron-descriptor."""
    from cron_descriptor import Options, get_description

    options = Options()
    options.locale_code = "zh_CN" if language == "zh" else "en_US"
    options.use_24hour_time_format = True
    try:
        words: str = get_description(cron, options)
    except Exception:  # a cron the scheduler itself would refuse: shown as written
        return cron
    if language == "zh":
        for english, chinese in WEEKDAYS.items():
            words = words.replace(english, chinese)
    return words


@router.get("/schedules")
def schedules_page(request: Request, person: Viewer) -> Response:
    language = person.user.language
    with request.app.state.sessions.begin() as session:
        rows = schedules.status(session)
        fires = {row.name: schedules.fires_of(session, row.name, 5) for row in rows}
        session.expunge_all()
    shown = []
    for row in rows:
        try:
            upcoming = [] if row.paused or not row.enabled else schedules.upcoming(
                row.cron, row.timezone, 3)
        except (ValueError, KeyError):
            upcoming = []
        shown.append({"row": row, "words": cron_words(row.cron, language),
                      "upcoming": upcoming, "fires": fires[row.name]})
    return render(request, "schedules.html", schedules=shown)


@router.post("/schedules/{name}/{change}")
def change_schedule(request: Request, person: Operator, name: str, change: str) -> Response:
    if change not in ("pause", "resume", "run"):
        raise ConsoleError(404, f"no change '{change}' (pause, resume, run)")
    with request.app.state.sessions.begin() as session:
        if change == "run":
            row = session.get(Schedule, name)
            if row is None:
                raise NotFound(f"no schedule '{name}'")
            job = jobs.create_job(session, robot=row.robot, inputs=dict(row.inputs),
                                  priority=row.priority, labels=list(row.labels),
                                  timeout_s=row.timeout_s, max_attempts=row.max_attempts,
                                  retry_delay_s=row.retry_delay_s,
                                  retry_backoff=row.retry_backoff, schedule=name,
                                  source="console")
            audit.note(request.state, object=f"schedule {name}", job=job.id)
            return RedirectResponse(f"/console/runs/{job.id}", status_code=303)
        schedules.set_paused(session, name, change == "pause", person.user.name)
    audit.note(request.state, object=f"schedule {name}")
    return RedirectResponse("/console/schedules", status_code=303)


@router.get("/queues")
def queues_page(request: Request, person: Viewer) -> Response:
    with request.app.state.sessions.begin() as session:
        counts = queues.all_stats(session)
    return render(request, "queues.html", counts=counts, states=[s.value for s in ItemState])


@router.get("/queues/{name}")
def queue_page(request: Request, person: Viewer, name: str,
               state: Annotated[str | None, Query(max_length=30)] = None,
               reference: Annotated[str | None, Query(max_length=500)] = None,
               after: Annotated[int, Query(ge=0)] = 0, notice: str = "") -> Response:
    if state and state not in {s.value for s in ItemState}:
        raise ConsoleError(422, f"state '{state}' is not one of "
                                f"{', '.join(s.value for s in ItemState)}")
    with request.app.state.sessions.begin() as session:
        queue = queues.get_queue(session, name)
        counts = queues.stats(session, name)
        query = (select(QueueItem).where(QueueItem.queue == name, QueueItem.id > after)
                 .order_by(QueueItem.id).limit(51))
        if state:
            query = query.where(QueueItem.state == state)
        if reference:
            query = query.where(QueueItem.reference.contains(reference, autoescape=True))
        items = list(session.scalars(query))
        session.expunge_all()
    return render(request, "queue.html", queue=queue, counts=counts, items=items[:50],
                  more=len(items) > 50, states=[s.value for s in ItemState], notice=notice,
                  can_retry=[s.value for s in queues.CAN_RETRY],
                  can_abandon=[s.value for s in queues.CAN_ABANDON])


@router.post("/queue-items/{item_id}/{change}")
def change_item(request: Request, person: Operator, item_id: int, change: str) -> Response:
    if change not in ("retry", "abandon"):
        raise ConsoleError(404, f"no change '{change}' (retry, abandon)")
    with request.app.state.sessions.begin() as session:
        act = queues.retry if change == "retry" else queues.abandon
        item = act(session, item_id, person.user.name)
        queue, reference = item.queue, item.reference
    audit.note(request.state, object=f"queue item {item_id} ({queue} {reference})")
    return RedirectResponse(f"/console/queues/{queue}", status_code=303)


@router.post("/queues/{name}/upload")
async def upload_items(request: Request, person: Operator, name: str,
                       file: Annotated[UploadFile, File()],
                       reference_column: Annotated[str, Form(max_length=200)]) -> Response:
    """Add items from an Excel or CSV file (one row an item; GBK CSV files too)."""
    suffix = Path(file.filename or "items.xlsx").suffix.lower()
    if suffix not in (".xlsx", ".csv"):
        raise ConsoleError(422, f"'{file.filename}' is neither an Excel (.xlsx) nor a CSV file")
    data = await file.read()

    def add() -> dict[str, int]:
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / f"items{suffix}"
            path.write_bytes(data)
            with request.app.state.sessions.begin() as session:
                return queues.add_file(session, name, path, reference_column)

    added = await run_in_threadpool(add)
    audit.note(request.state, object=f"queue {name}", file=file.filename, **added)
    return RedirectResponse(f"/console/queues/{name}?notice=" + "+".join(
        f"{k}={v}" for k, v in added.items()), status_code=303)


@router.get("/workers")
def workers_page(request: Request, person: Viewer) -> Response:
    now = utcnow()
    day_ago = now - dt.timedelta(hours=24)
    with request.app.state.sessions.begin() as session:
        fleet = workers.fleet(session, now)
        capacity = workers.capacity(session, fleet)
        busy: dict[str, float] = {}
        for worker, started, finished in session.execute(
                select(Attempt.worker, Attempt.started, Attempt.finished)
                .where((Attempt.finished.is_(None)) | (Attempt.finished >= day_ago))):
            begin = max(aware(started), day_ago)
            busy[worker] = busy.get(worker, 0.0) + max(
                0.0, ((aware(finished) if finished else now) - begin).total_seconds())
    # the share of its slots' time over the last 24 h (a worker that has not said its slots:
    # one, as it ran before slots were reported)
    rows = [{"worker": w, "utilisation": min(1.0, busy.get(w.name, 0.0) / 86_400
                                             / (w.slots or 1))} for w in fleet]
    return render(request, "workers.html", rows=rows, capacity=capacity,
                  busy_now=sum(len(w.running) for w in fleet))
