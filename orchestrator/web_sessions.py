"""Console sessions: a signed cookie naming a random session id; the database keeps its hash.

The cookie is HttpOnly and SameSite=Lax (links to a view from a mail still open it signed in;
other sites' forms cannot post with it) and Secure when the console is served over HTTPS. Each
session has its own CSRF token, which every state-changing form and htmx request carries.
A session ends when idle longer than `session_idle_minutes`, `session_hours` after sign-in, at
sign-out, or when its user is disabled or given a new password.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from pathlib import Path

from itsdangerous import BadSignature, Signer
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from orchestrator.jobs import aware, utcnow
from orchestrator.models import User, WebSession
from orchestrator.settings import Settings, write_private

COOKIE = "workhand_session"
TOUCH_EVERY = dt.timedelta(seconds=60)  # last_seen written at most this often


def _digest(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


def signer(settings: Settings) -> Signer:
    """Signs cookies with the data folder's console key (made on first use, mode 0600): a
    cookie forged or altered is refused before the database is asked."""
    path: Path = settings.data_dir / "console.key"
    if not path.exists():
        write_private(path, secrets.token_urlsafe(32))
    return Signer(path.read_text(encoding="utf-8").strip(), salt="workhand-session")


@dataclass(frozen=True)
class SignedIn:
    user: User
    csrf: str
    digest: str


def open_session(session: Session, settings: Settings, user: User, address: str,
                 now: dt.datetime | None = None) -> str:
    """A new session for a user who has just signed in; answers the cookie's value."""
    now = now or utcnow()
    session_id = secrets.token_urlsafe(32)
    session.execute(delete(WebSession).where(WebSession.expires < now))  # the lapsed ones
    session.add(WebSession(digest=_digest(session_id), user_id=user.id,
                           csrf=secrets.token_urlsafe(32), created=now, last_seen=now,
                           expires=now + dt.timedelta(hours=settings.session_hours),
                           address=address[:100]))
    return signer(settings).sign(session_id).decode()


def find_session(session: Session, settings: Settings, cookie: str | None,
                 now: dt.datetime | None = None) -> SignedIn | None:
    """The signed-in user this cookie names, while the session lasts."""
    if not cookie:
        return None
    try:
        session_id = signer(settings).unsign(cookie).decode()
    except BadSignature:
        return None
    now = now or utcnow()
    row = session.get(WebSession, _digest(session_id))
    if row is None:
        return None
    idle_until = aware(row.last_seen) + dt.timedelta(minutes=settings.session_idle_minutes)
    user = session.get(User, row.user_id)
    if now >= aware(row.expires) or now >= idle_until or user is None or user.disabled:
        session.delete(row)
        return None
    if now - aware(row.last_seen) >= TOUCH_EVERY:
        row.last_seen = now
    return SignedIn(user, row.csrf, row.digest)


def close_session(session: Session, digest: str) -> None:
    session.execute(delete(WebSession).where(WebSession.digest == digest))


def csrf_matches(expected: str, given: str | None) -> bool:
    return bool(given) and hmac.compare_digest(expected.encode(), (given or "").encode())


def sessions_of(session: Session, user_id: int) -> list[WebSession]:
    return list(session.scalars(select(WebSession).where(WebSession.user_id == user_id)))
