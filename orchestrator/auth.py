"""API tokens: shown once, stored as SHA-256, each with one role.

A worker token is bound to one worker name and a set of granted labels (see api/deps.py for
where that is enforced). A job token is made by the orchestrator for each attempt it leases:
the worker hands it to the robot's process, which can use it for that job's work-queue routes
only, and only until the attempt ends — so a robot never holds its worker's token."""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Iterable
from typing import Any

from sqlalchemy import Connection, select
from sqlalchemy.orm import Session

from orchestrator.models import Attempt, Token
from orchestrator.refusals import Conflict, Invalid, NotFound
from orchestrator.roles import Role

JOB_TOKEN_PREFIX = "wh_job_"
MAX_LABELS = 50
_LABEL = re.compile(r"^[^\s,\x00-\x1f\x7f]{1,100}$")
_WORKER = re.compile(r"^[^\x00-\x1f\x7f]{1,200}$")


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def granted_labels(labels: Iterable[str]) -> list[str]:
    """Labels as a token grants them: sorted, each once; refused when not a plain word."""
    labels = sorted(set(labels))
    bad = [label for label in labels if not _LABEL.match(label)]
    if bad:
        raise Invalid(f"label '{bad[0]}' must be 1 to 100 characters without spaces, "
                      "commas or control characters")
    if len(labels) > MAX_LABELS:
        raise Invalid(f"a token grants at most {MAX_LABELS} labels, not {len(labels)}")
    return labels


def new_token(session: Session, role: Role, name: str = "", *, worker: str | None = None,
              labels: Iterable[str] = ()) -> tuple[Token, str]:
    """A new token row (flushed, so it has its id) and the token itself: only its digest is
    stored, so print it now or lose it. A worker token needs the worker name it is for."""
    granted = granted_labels(labels)
    if role is Role.WORKER:
        if not worker or not _WORKER.match(worker) or worker != worker.strip():
            raise Invalid("a worker token is for one worker: give its name (1 to 200 "
                          "characters, no control characters or spaces at either end), "
                          "e.g. --worker branch-pc-01")
    elif worker is not None or granted:
        raise Invalid(f"only worker tokens have a worker name and labels, not "
                      f"{role.value} tokens")
    token = f"wh_{role.value}_{secrets.token_urlsafe(24)}"
    row = Token(name=name or (f"worker {worker}" if worker else role.value), role=role.value,
                digest=digest(token), worker=worker, labels=granted)
    session.add(row)
    session.flush()
    return row, token


def create_token(session: Session, role: Role, name: str = "", *, worker: str | None = None,
                 labels: Iterable[str] = ()) -> str:
    """new_token(), the token only."""
    return new_token(session, role, name, worker=worker, labels=labels)[1]


def find_token(session: Session, token: str) -> Token | None:
    found = session.scalar(select(Token).where(Token.digest == digest(token)))
    return found if found is not None and not found.revoked else None


def list_tokens(session: Session) -> list[Token]:
    return list(session.scalars(select(Token).order_by(Token.id)))


def revoke_token(session: Session, token_id: int) -> Token:
    """Revoke a token by id (again is harmless). Processes that used it in the last few
    seconds may still accept it until their cache lapses (api/deps.py TOKEN_TTL_S)."""
    row = session.get(Token, token_id)
    if row is None:
        raise NotFound(f"no token {token_id}; `workhand token list` shows them")
    row.revoked = True
    return row


def token_view(row: Token) -> dict[str, object]:
    """A token as the API and CLI show it: never the token or its digest."""
    return {"id": row.id, "name": row.name, "role": row.role, "worker": row.worker,
            "labels": list(row.labels or []), "created": row.created, "revoked": row.revoked}


def job_token() -> tuple[str, str]:
    """A new job token and its digest (the digest goes into the attempt's row)."""
    token = f"{JOB_TOKEN_PREFIX}{secrets.token_urlsafe(24)}"
    return token, digest(token)


def find_job_token(db: Session | Connection, token: str) -> Any:
    """The attempt a job token was made for, while that attempt has not ended; after it has,
    409 with a sentence (the robot's job went on without it: its lease ran out, or it was
    handed back), not "unknown token". The attempt's row: job_id, number, worker, finished,
    outcome."""
    found = db.execute(select(Attempt.job_id, Attempt.number, Attempt.worker, Attempt.finished,
                              Attempt.outcome).where(Attempt.token_digest == digest(token))
                       ).first()
    if found is not None and found.finished is not None:
        raise Conflict(f"job {found.job_id} attempt {found.number} has ended "
                       f"({found.outcome or 'ended'}); its job token no longer works, "
                       "and this robot should stop")
    return found
