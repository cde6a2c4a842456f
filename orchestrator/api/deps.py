"""Shared FastAPI dependencies: the database session and the caller's permission."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Annotated

from fastapi import Depends, HTTPException, Path, Request, status
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from orchestrator.auth import PERMISSIONS, Role, find_token
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


async def get_settings(request: Request) -> Settings:  # async: no thread-pool hop
    settings: Settings = request.app.state.settings
    return settings


SettingsDep = Annotated[Settings, Depends(get_settings)]


class Caller:
    def __init__(self, role: Role, name: str) -> None:
        self.role, self.name = role, name


TOKEN_TTL_S = 5.0  # a revoked token keeps working this long in a process that just used it
_known: dict[str, tuple[float, Caller]] = {}  # token → (until, caller): valid tokens only


def _lookup(request: Request, token: str) -> Caller | None:
    with request.app.state.sessions() as session:
        found = find_token(session, token)
        return None if found is None else Caller(Role(found.role), found.name)


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
        if permission not in PERMISSIONS[caller.role]:
            raise HTTPException(status.HTTP_403_FORBIDDEN,
                                f"a {caller.role.value} token cannot do this "
                                f"(needs '{permission}')")
        return caller

    return check


# Route parameters: `caller: Reader` etc. Each needs a token whose role has that permission.
Reader = Annotated[Caller, Depends(_need("read"))]
Operator = Annotated[Caller, Depends(_need("operate"))]
Admin = Annotated[Caller, Depends(_need("admin"))]
WorkerCaller = Annotated[Caller, Depends(_need("work"))]


MAX_ID = 2**63 - 1  # BIGINT: larger numbers cannot name a row, and SQLite would overflow
Id = Annotated[int, Path(ge=1, le=MAX_ID, description="a row id")]
