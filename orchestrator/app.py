"""The orchestrator's FastAPI app: routes under /api/v1, errors as 4xx, background services."""

from __future__ import annotations

import contextlib
import importlib
import json
import logging
import re
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from sqlalchemy.exc import IntegrityError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from libs.errors import RobotFileError
from orchestrator.db import make_engine, migrate, session_factory
from orchestrator.jobs import JobError
from orchestrator.settings import Settings
from orchestrator.states import IllegalTransition

log = logging.getLogger("workhand.orchestrator")
ROUTERS = ("jobs", "work", "robots", "schedules", "queues", "credentials", "kpi",
           "tokens")


def create_app(settings: Settings | None = None, *, services: bool = True) -> FastAPI:
    settings = settings or Settings()
    engine = make_engine(settings.database_url)
    migrate(engine)
    running: list[Any] = []

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if services:
            running.extend(start_services(app))
        yield
        for service in running:
            service.stop()
        engine.dispose()

    app = FastAPI(title="Workhand orchestrator", version="1", lifespan=lifespan,
                  description="Robots, schedules, jobs, work queues, credentials and savings.")
    app.state.settings = settings
    app.state.engine = engine
    app.state.sessions = session_factory(engine)
    for name in ROUTERS:
        try:
            module = importlib.import_module(f"orchestrator.api.{name}")
        except ModuleNotFoundError:  # a part still being built
            continue
        app.include_router(module.router)
    add_error_handlers(app)
    app.add_middleware(TextGuard)
    return app


def start_services(app: FastAPI) -> list[Any]:
    from orchestrator.services.reaper import Reaper

    services: list[Any] = [Reaper(app.state.sessions, app.state.settings)]
    try:
        from orchestrator.services.scheduler import Scheduler

        services.append(Scheduler(app.state.sessions))
    except ImportError:
        log.warning("the scheduler is not available")
    for service in services:
        service.start()
    return services


_ESCAPED_SURROGATE = re.compile(rb"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")


def _has_lone_surrogate(value: Any) -> bool:
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return True
        return False
    if isinstance(value, dict):
        return any(_has_lone_surrogate(k) or _has_lone_surrogate(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_lone_surrogate(v) for v in value)
    return False


class TextGuard:
    """JSON may escape half of a UTF-16 pair ("\\ud800"), which no database can store: refuse
    it with a 422 up front rather than fail later with a 500. Plain ASGI (Starlette's
    BaseHTTPMiddleware costs about a millisecond a request): the body is read once, checked,
    and handed on to the app."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("POST", "PUT", "PATCH") or \
                b"json" not in dict(scope["headers"]).get(b"content-type", b""):
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        message: Message = {"more_body": True}
        while message.get("more_body"):
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                await self.app(scope, receive, send)
                return
            chunks.append(message.get("body", b""))
        body = b"".join(chunks)
        if _ESCAPED_SURROGATE.search(body):
            try:
                broken = _has_lone_surrogate(json.loads(body))
            except ValueError:
                broken = False  # not JSON: the route's own validation says so
            if broken:
                await _error("the request holds a lone UTF-16 surrogate (\\ud800-\\udfff) "
                             "that is not text; send valid UTF-8", 422)(scope, receive, send)
                return
        handed = False

        async def replay() -> Message:
            nonlocal handed
            if handed:
                return await receive()
            handed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)


def _error(detail: str, status: int, **extra: Any) -> Response:
    """Errors are ASCII-escaped JSON, so no odd character in a message can break the reply."""
    return Response(json.dumps({"detail": detail, **extra}, ensure_ascii=True),
                    status_code=status, media_type="application/json")


def add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(JobError)
    async def job_error(request: Request, err: JobError) -> Response:
        return _error(str(err), err.status)

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
            where = ".".join(str(p) for p in e.get("loc", ())[1:]) or "request"
            problems.append(f"{where}: {e.get('msg', 'invalid')}")
        return _error("; ".join(problems), 422)

    @app.exception_handler(IntegrityError)
    async def conflict(request: Request, err: IntegrityError) -> Response:
        return _error("this conflicts with what is already stored (a duplicate name or "
                      "reference?)", 409)
