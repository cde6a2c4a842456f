"""API tokens: admins list, create and revoke them; any caller can ask who it is."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Request, status
from pydantic import BaseModel, ConfigDict, Field

from orchestrator import auth
from orchestrator.api.deps import Admin, AnyCaller, Id, SessionDep, forget_token
from orchestrator.roles import Role

router = APIRouter(prefix="/api/v1", tags=["tokens"])


class TokenView(BaseModel):
    """A token as listed: never the token itself or its digest."""
    id: int
    name: str
    role: str
    worker: str | None
    labels: list[str]
    created: dt.datetime
    revoked: bool


class TokenCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role: Role
    name: str = Field("", max_length=200, pattern=r"^[^\x00-\x1f\x7f]*$",
                      description="who or what will use it")
    worker: str | None = Field(None, min_length=1, max_length=200,
                               description="worker tokens: the one worker name it acts as")
    labels: list[Annotated[str, Field(min_length=1, max_length=100)]] = Field(
        default_factory=list, max_length=auth.MAX_LABELS,
        description="worker tokens: the labels granted (jobs needing others never reach it)")


class Created(TokenView):
    token: str = Field(description="shown once: only its digest is stored")


@router.get("/tokens")
def list_tokens(caller: Admin, session: SessionDep) -> list[TokenView]:
    return [TokenView.model_validate(auth.token_view(t)) for t in auth.list_tokens(session)]


@router.post("/tokens", status_code=status.HTTP_201_CREATED)
def create_token(body: TokenCreate, caller: Admin, session: SessionDep) -> Created:
    """A new token, shown in this answer only."""
    row, token = auth.new_token(session, body.role, body.name, worker=body.worker,
                                labels=body.labels)
    return Created.model_validate({**auth.token_view(row), "token": token})


@router.post("/tokens/{token_id}/revoke")
def revoke_token(token_id: Id, caller: Admin, request: Request) -> TokenView:
    """Refused from now on by this process; other orchestrator processes that used it in the
    last few seconds refuse it once their token cache lapses (5 s)."""
    with request.app.state.sessions.begin() as session:
        view = auth.token_view(auth.revoke_token(session, token_id))
    forget_token(token_id)  # after the commit: a lookup in between would cache it again
    return TokenView.model_validate(view)


class Caller(BaseModel):
    role: str = Field(description="the token's role (worker, operator, ...) or 'job'")
    name: str
    worker: str | None = Field(description="a worker token's worker")
    labels: list[str] = Field(description="the labels a worker token was granted")


@router.get("/whoami", response_model=Caller)
def whoami(caller: AnyCaller) -> dict[str, Any]:
    """The calling token's role and, for a worker token, the worker name and labels it was
    created for (`workhand worker` takes its name and labels from here by default)."""
    return {"role": caller.kind, "name": caller.name, "worker": caller.worker,
            "labels": sorted(caller.labels)}
