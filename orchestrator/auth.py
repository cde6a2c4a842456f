"""API tokens: shown once, stored as SHA-256, each with one role."""

from __future__ import annotations

import hashlib
import secrets
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.orm import Session

from orchestrator.models import Token


class Role(StrEnum):
    ADMIN = "admin"
    OPERATOR = "operator"
    VIEWER = "viewer"
    WORKER = "worker"


# What each role may do; a route names the permission it needs.
PERMISSIONS: dict[Role, frozenset[str]] = {
    Role.ADMIN: frozenset({"read", "operate", "admin"}),
    Role.OPERATOR: frozenset({"read", "operate"}),
    Role.VIEWER: frozenset({"read"}),
    Role.WORKER: frozenset({"work"}),
}


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(session: Session, role: Role, name: str = "") -> str:
    """A new token for the role; only its digest is stored, so print it now or lose it."""
    token = f"wh_{role.value}_{secrets.token_urlsafe(24)}"
    session.add(Token(name=name or role.value, role=role.value, digest=digest(token)))
    return token


def find_token(session: Session, token: str) -> Token | None:
    found = session.scalar(select(Token).where(Token.digest == digest(token)))
    return found if found is not None and not found.revoked else None
