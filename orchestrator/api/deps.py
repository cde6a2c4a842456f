"""Shared FastAPI dependencies: the database session and the caller's permission."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Annotated

from fastapi import Depends, HTTPException, Path, Request, status
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


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


SettingsDep = Annotated[Settings, Depends(get_settings)]


class Caller:
    def __init__(self, role: Role, name: str) -> None:
        self.role, self.name = role, name


def _caller(request: Request,
            credentials: HTTPAuthorizationCredentials | None = Depends(bearer)) -> Caller:
    if credentials is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED,
                            "an API token is required: Authorization: Bearer <token>",
                            headers={"WWW-Authenticate": "Bearer"})
    with request.app.state.sessions() as session:
        token = find_token(session, credentials.credentials)
        if token is None:
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, "unknown or revoked API token",
                                headers={"WWW-Authenticate": "Bearer"})
        return Caller(Role(token.role), token.name)


def _need(permission: str) -> Callable[[Caller], Caller]:
    def check(caller: Caller = Depends(_caller)) -> Caller:
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
