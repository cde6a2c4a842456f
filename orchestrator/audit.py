"""The audit log: every mutating action from the console or the API — who, what, on which
object, when, from where, and how it ended.

One middleware (AuditTrail) records every POST, PUT, PATCH and DELETE whose caller is known —
a signed-in person or an API token — just before its answer goes out, so a caller that has its
answer finds the entry there, refused actions (403, 409, 422) included. Workers' and robots'
own calls (lease, heartbeat, events, item reports) are not entries: they are the run's record
(attempts, events, items), thousands a minute. Sign-ins, failed ones included, are entries.
Rows are never changed or deleted: the app has no such route, and the database refuses both
(migration 0009's triggers).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from fastapi.concurrency import run_in_threadpool
from sqlalchemy import Engine, insert, select
from sqlalchemy.orm import Session
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from orchestrator.jobs import utcnow
from orchestrator.models import AuditEntry

log = logging.getLogger("workhand.audit")
MUTATING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
STATE_KEY = "audit"  # request.state.audit: the Actor, set where the caller is known


@dataclass
class Actor:
    """Who is acting, and what the route adds about the object it acted on."""
    name: str
    kind: str  # user | token
    object: str = ""
    detail: dict[str, Any] = field(default_factory=dict)
    machine: bool = False  # a worker or a robot's job token: not audited


def identify(state: Any, name: str, kind: str, *, machine: bool = False) -> None:
    """Say who the caller of this request is (api/deps.py for tokens, the console for people)."""
    current = getattr(state, STATE_KEY, None)
    if current is None:
        setattr(state, STATE_KEY, Actor(name, kind, machine=machine))
    else:
        current.name, current.kind, current.machine = name, kind, machine


def note(state: Any, object: str = "", **detail: Any) -> None:
    """Add the object acted on (e.g. "job 12", when the route made it) and details."""
    actor: Actor | None = getattr(state, STATE_KEY, None)
    if actor is None:
        actor = Actor("", "")
        setattr(state, STATE_KEY, actor)
    if object:
        actor.object = object
    actor.detail.update(detail)


def _object(path_params: Mapping[str, Any]) -> str:
    # job_id=12 → "job 12"; name=invoices → "invoices"
    parts = []
    for key, value in path_params.items():
        label = key.removesuffix("_id").replace("_", " ")
        parts.append(str(value) if key == "name" else f"{label} {value}")
    return ", ".join(parts)


class AuditTrail:
    """ASGI middleware writing one AuditEntry per audited request (see the module's text)."""

    def __init__(self, app: ASGIApp, engine: Engine) -> None:
        self.app, self.engine = app, engine

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in MUTATING:
            await self.app(scope, receive, send)
            return

        async def recording(message: Message) -> None:
            if message["type"] == "http.response.start":
                await self._record(scope, message["status"])
            await send(message)

        await self.app(scope, receive, recording)

    async def _record(self, scope: Scope, status: int) -> None:
        actor: Actor | None = scope.get("state", {}).get(STATE_KEY)
        if actor is None or actor.machine or not actor.name:
            return
        route = scope.get("route")
        action = f"{scope['method']} {getattr(route, 'path', scope['path'])}"
        client = scope.get("client")
        row = {"at": utcnow(), "actor": actor.name[:200], "actor_kind": actor.kind,
               "action": action[:200],
               "object": (actor.object or _object(scope.get("path_params", {})))[:500],
               "detail": actor.detail, "address": (client[0] if client else "")[:100],
               "status": status}
        try:
            await run_in_threadpool(_write, self.engine, row)
        except Exception:  # the action has happened; say loudly that its entry is missing
            log.exception("could not write the audit entry %s", row)


def _write(engine: Engine, row: dict[str, Any]) -> None:
    with engine.begin() as conn:
        conn.execute(insert(AuditEntry), row)


def record(session: Session, *, actor: str, kind: str, action: str, object: str = "",
           address: str = "", status: int = 200, **detail: Any) -> None:
    """An entry written in the caller's own transaction (a service's or the CLI's action)."""
    session.add(AuditEntry(at=utcnow(), actor=actor, actor_kind=kind, action=action,
                           object=object, detail=detail, address=address, status=status))


@dataclass(frozen=True)
class AuditFilter:
    actor: str | None = None
    action: str | None = None  # a part of the action's text
    object: str | None = None  # a part of the object's text
    since: dt.datetime | None = None
    until: dt.datetime | None = None


def entries(session: Session, where: AuditFilter, *, before: int | None = None,
            limit: int = 50) -> list[AuditEntry]:
    """Newest first, a page at a time: `before` is the last id of the previous page (keyset)."""
    query = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
    if before is not None:
        query = query.where(AuditEntry.id < before)
    if where.actor:
        query = query.where(AuditEntry.actor == where.actor)
    if where.action:
        query = query.where(AuditEntry.action.contains(where.action, autoescape=True))
    if where.object:
        query = query.where(AuditEntry.object.contains(where.object, autoescape=True))
    if where.since is not None:
        query = query.where(AuditEntry.at >= where.since)
    if where.until is not None:
        query = query.where(AuditEntry.at < where.until)
    return list(session.scalars(query))
