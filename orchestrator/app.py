"""The orchestrator's FastAPI app: routes under /api/v1, errors as 4xx, background services."""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
from collections.abc import AsyncIterator
from typing import Any

import psycopg
from anyio import to_thread
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from libs.errors import RobotFileError
from orchestrator import console
from orchestrator.api.statuses import status_of
from orchestrator.api.work import event_problem
from orchestrator.audit import AuditTrail
from orchestrator.console.web import ConsoleError, error_page
from orchestrator.db import make_async_engine, make_engine, migrate, session_factory
from orchestrator.guard import BodyGuard, error
from orchestrator.outages import Outage, bug, unavailable
from orchestrator.refusals import Refusal
from orchestrator.settings import Settings
from orchestrator.states import IllegalTransition

log = logging.getLogger("workhand.orchestrator")
ROUTERS = ("jobs", "work", "robots", "schedules", "queues", "credentials", "kpi",
           "tokens", "reviews")


def create_app(settings: Settings | None = None, *, services: bool = True) -> FastAPI:
    settings = settings or Settings()
    settings.make_data_dir()
    engine = make_engine(settings.database_url)
    migrate(engine)
    running: list[Any] = []

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        to_thread.current_default_thread_limiter().total_tokens = settings.request_threads
        # made here, on the loop that serves the requests: its connections belong to it
        app.state.async_engine = make_async_engine(settings.database_url)
        app.state.database_slots = asyncio.Semaphore(settings.request_threads)
        if services:
            running.extend(start_services(app))
        yield
        for service in running:
            service.stop()
        if app.state.async_engine is not None:
            await app.state.async_engine.dispose()
            app.state.async_engine = None
        engine.dispose()

    app = FastAPI(title="Workhand orchestrator", version="1", lifespan=lifespan,
                  description="Robots, schedules, jobs, work queues, credentials and savings.")
    app.state.settings = settings
    app.state.engine = engine
    app.state.async_engine = None  # until the lifespan starts (api/deps.py: in_database)
    app.state.sessions = session_factory(engine)
    for name in ROUTERS:  # every one must import: a missing router is an error, not a skip
        app.include_router(importlib.import_module(f"orchestrator.api.{name}").router)
    console.install(app)
    add_error_handlers(app)
    app.add_middleware(BodyGuard, settings=settings)
    app.add_middleware(AuditTrail, engine=engine)
    return app


def start_services(app: FastAPI) -> list[Any]:
    from orchestrator.services.reaper import Reaper

    services: list[Any] = [Reaper(app.state.sessions, app.state.settings)]
    from orchestrator.services.daily_report import DailyReportSender

    services.append(DailyReportSender(app.state.sessions, app.state.settings))
    if app.state.engine.dialect.name == "postgresql":  # jobs other processes commit
        from orchestrator.services.listener import Listener

        services.append(Listener(app.state.engine))
    try:
        from orchestrator.services.scheduler import Scheduler

        services.append(Scheduler(app.state.sessions))
    except ImportError:
        log.warning("the scheduler is not available")
    for service in services:
        service.start()
    return services


_error = error  # ASCII-escaped JSON errors (guard.error)
MAX_PROBLEMS = 20  # of a request's validation errors, told in its 422


def add_error_handlers(app: FastAPI) -> None:
    outage = app.state.outage = Outage()

    @app.exception_handler(Refusal)
    async def refused(request: Request, err: Refusal) -> Response:
        if request.url.path.startswith("/console/"):  # shown as a page
            return error_page(request, ConsoleError(status_of(err), str(err)))
        return _error(str(err), status_of(err))

    @app.exception_handler(IllegalTransition)
    async def illegal(request: Request, err: IllegalTransition) -> Response:
        return _error(str(err), 409)

    @app.exception_handler(RobotFileError)
    async def robot_file(request: Request, err: RobotFileError) -> Response:
        return _error("the robot has problems", 422, problems=[str(p) for p in err.problems])

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, err: RequestValidationError) -> Response:
        problems = []
        for e in err.errors():
            loc = tuple(e.get("loc", ()))
            if loc[:2] == ("body", "events") and len(loc) > 2:  # a run event of a batch
                problems.append(event_problem(loc[2:], e, err.body))
                continue
            where = ".".join(str(p) for p in loc[1:]) or "request"
            problems.append(f"{where}: {e.get('msg', 'invalid')}")
        if len(problems) > MAX_PROBLEMS:  # a batch of 5,000 bad events: the first few say it
            problems[MAX_PROBLEMS:] = [f"and {len(problems) - MAX_PROBLEMS} more problems"]
        return _error("; ".join(problems), 422)

    @app.exception_handler(IntegrityError)
    async def conflict(request: Request, err: IntegrityError) -> Response:
        return _error("this conflicts with what is already stored (a duplicate name or "
                      "reference?)", 409)

    # The database's errors: 503 when it is away (orchestrator/outages.py), else a bug. These
    # run for sync and async routes and their dependencies alike, get_session's commit after
    # the route included (scope="function").
    @app.exception_handler(SQLAlchemyError)
    @app.exception_handler(psycopg.Error)
    async def database(request: Request, err: Exception) -> Response:
        if unavailable(err):
            return outage.answer(request, err)
        return bug(request, err, traceback=True)

    # For Exception, Starlette answers with this and then re-raises, so the server still logs
    # the traceback: the caller gets a sentence, the operator the bug.
    @app.exception_handler(Exception)
    async def unexpected(request: Request, err: Exception) -> Response:
        if unavailable(err):  # raised by code of ours from the database's error
            return outage.answer(request, err)
        return bug(request, err, traceback=False)
