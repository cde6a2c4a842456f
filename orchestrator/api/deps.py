"""Shared FastAPI dependencies: the database session and the caller's permission."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from typing import Annotated

from fastapi import Depends, HTTPException, Path, Request, status
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session, sessionmaker

from orchestrator.auth import (
    JOB_PERMISSIONS,
    JOB_TOKEN_PREFIX,
    PERMISSIONS,
    Role,
    find_job_token,
    find_token,
)
from orchestrator.settings import Settings

bearer = HTTPBearer(auto_error=False, description="an API token: workhand token create")


def get_session(request: Request) -> Iterator[Session]:
    """One transaction per request: committed when the route returns, rolled back on error.

    Used with scope="function" (SessionDep): the commit happens before the response is sent, so
    a client that got a job id can read that job at once (FastAPI's default scope would send the
    answer first and commit afterwards)."""
    with request.app.state.sessions.begin() as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session, scope="function")]


def transaction(request: Request) -> AbstractContextManager[Session]:
    """One transaction in the route's own thread, committed before the route returns. For the
    routes called all the time (workers, the console): FastAPI validates a sync route's answer
    in another thread-pool hop before it ends a dependency, so a SessionDep transaction (SQLite's
    write lock, a pooled connection) stays open while it waits for a thread — and when every
    thread waits for that lock or a connection, nothing moves (bench/fleet.py found this at 200
    robots)."""
    sessions: sessionmaker[Session] = request.app.state.sessions
    return sessions.begin()


async def get_settings(request: Request) -> Settings:  # async: no thread-pool hop
    settings: Settings = request.app.state.settings
    return settings


SettingsDep = Annotated[Settings, Depends(get_settings)]


class Caller:
    """Who is calling: the token's role and name; for a worker token, the worker it is bound
    to and the labels it was granted; for a job token, the job and attempt it was made for.

    Every worker route asks the caller here whether it may act as the worker it names, so the
    binding is decided in one place."""

    def __init__(self, role: Role, name: str, *, token_id: int | None = None,
                 worker: str | None = None, labels: Sequence[str] = (),
                 job: tuple[int, int] | None = None) -> None:
        self.role, self.name, self.token_id = role, name, token_id
        self.worker, self.labels, self.job = worker, frozenset(labels), job

    @property
    def kind(self) -> str:
        return "job" if self.job is not None else self.role.value

    @property
    def permissions(self) -> frozenset[str]:
        return JOB_PERMISSIONS if self.job is not None else PERMISSIONS[self.role]

    def act_as(self, worker: str, labels: Iterable[str] = ()) -> None:
        """403 unless this token is bound to `worker` and grants every label in `labels`."""
        if worker != self.worker:
            raise HTTPException(status.HTTP_403_FORBIDDEN,
                                f"this token is for worker '{self.worker}', not '{worker}'; "
                                "each worker needs a token of its own: workhand token create "
                                "--role worker --worker NAME")
        extra = sorted(set(labels) - self.labels)
        if extra:
            raise HTTPException(status.HTTP_403_FORBIDDEN,
                                f"worker '{worker}' was not granted the label(s) "
                                f"{', '.join(extra)} (granted: "
                                f"{', '.join(sorted(self.labels)) or 'none'}); an admin grants "
                                "labels when creating the token (--labels)")

    def hold(self, job_id: int, attempt: int, worker: str) -> None:
        """403 unless the caller may act for this attempt: the worker it names is this token's,
        and a job token names its own job and attempt (jobs.holding() then checks the lease)."""
        if self.job is not None and self.job != (job_id, attempt):
            raise HTTPException(status.HTTP_403_FORBIDDEN,
                                f"this job token is for job {self.job[0]} attempt "
                                f"{self.job[1]} only, not job {job_id} attempt {attempt}")
        self.act_as(worker)


TOKEN_TTL_S = 5.0  # a revoked token keeps working this long in other processes that used it
_known: dict[str, tuple[float, Caller]] = {}  # token → (until, caller): valid tokens only


def forget_token(token_id: int) -> None:
    """Drop a revoked token from this process's cache: it is refused from the next request."""
    for token, (_, caller) in list(_known.items()):
        if caller.token_id == token_id:
            _known.pop(token, None)


def _lookup(request: Request, token: str) -> Caller | None:
    with request.app.state.sessions() as session:
        if token.startswith(JOB_TOKEN_PREFIX):
            attempt = find_job_token(session, token)
            return None if attempt is None else Caller(
                Role.WORKER, f"job {attempt.job_id}", worker=attempt.worker,
                job=(attempt.job_id, attempt.number))
        found = find_token(session, token)
        return None if found is None else Caller(
            Role(found.role), found.name, token_id=found.id, worker=found.worker,
            labels=found.labels or ())


async def _caller(request: Request,
                  credentials: HTTPAuthorizationCredentials | None = Depends(bearer)) -> Caller:
    if credentials is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED,
                            "an API token is required: Authorization: Bearer <token>",
                            headers={"WWW-Authenticate": "Bearer"})
    token = credentials.credentials
    known = _known.get(token)
    if known is not None and known[0] > time.monotonic():
        return known[1]
    caller = await run_in_threadpool(_lookup, request, token)
    if caller is None:
        _known.pop(token, None)
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "unknown or revoked API token",
                            headers={"WWW-Authenticate": "Bearer"})
    if len(_known) > 10_000:
        _known.clear()
    _known[token] = (time.monotonic() + TOKEN_TTL_S, caller)
    return caller


def _need(permission: str) -> Callable[[Caller], Awaitable[Caller]]:
    async def check(caller: Caller = Depends(_caller)) -> Caller:
        if permission not in caller.permissions:
            raise HTTPException(status.HTTP_403_FORBIDDEN,
                                f"a {caller.kind} token cannot do this "
                                f"(needs '{permission}')")
        if caller.role is Role.WORKER and caller.worker is None:
            raise HTTPException(status.HTTP_403_FORBIDDEN,
                                "this worker token is not bound to a worker (it was made "
                                "before tokens named their worker); an admin creates one with "
                                "workhand token create --role worker --worker NAME --labels "
                                "a,b and revokes this one (workhand token revoke ID)")
        return caller

    return check


# Route parameters: `caller: Reader` etc. Each needs a token whose role has that permission.
Reader = Annotated[Caller, Depends(_need("read"))]
Operator = Annotated[Caller, Depends(_need("operate"))]
Admin = Annotated[Caller, Depends(_need("admin"))]
WorkerCaller = Annotated[Caller, Depends(_need("work"))]  # a bound worker token (act_as, hold)
QueueCaller = Annotated[Caller, Depends(_need("queue"))]  # a worker or a job token (hold)
AnyCaller = Annotated[Caller, Depends(_caller)]


MAX_ID = 2**63 - 1  # BIGINT: larger numbers cannot name a row, and SQLite would overflow
Id = Annotated[int, Path(ge=1, le=MAX_ID, description="a row id")]
