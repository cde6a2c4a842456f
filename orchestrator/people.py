"""People who sign in to the console: accounts, passwords (argon2id) and sign-in throttling.

The passwords are hashed by argon2-cffi with its default profile (RFC 9106's low-memory one,
about 0.15 s a hash here); a hash made with weaker parameters is upgraded at the next sign-in.
Failed sign-ins are throttled by name and by address, so guessing one person's password and
trying one password on many names are both slowed down.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
from dataclasses import dataclass
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from orchestrator.jobs import aware, utcnow
from orchestrator.models import SignInFailure, User, WebSession
from orchestrator.refusals import (
    Conflict,
    Forbidden,
    Invalid,
    NotFound,
    NotRecognised,
    TooManyTries,
)
from orchestrator.roles import PEOPLE_ROLES, Role

MIN_PASSWORD = 10
LANGUAGES = ("zh", "en")
_NAME = re.compile(r"^[^\s\x00-\x1f\x7f/\\<>\"'&]{1,100}$")
# Throttling: more failures than these within THROTTLE_WINDOW and that name (or address) is
# refused until the window has passed the oldest of them — even with the right password.
FAILURES_PER_NAME = 5
FAILURES_PER_ADDRESS = 20
THROTTLE_WINDOW = dt.timedelta(minutes=15)


@cache
def hasher() -> PasswordHasher:
    return PasswordHasher()


@cache
def _dummy_hash() -> str:
    """Verified against when the name is unknown, so an unknown name costs as long as a wrong
    password (no telling names that exist by the time an answer takes)."""
    return hasher().hash(secrets.token_urlsafe(16))


def check_name(name: str) -> str:
    if not _NAME.match(name):
        raise Invalid(f"'{name}' cannot be a user name: 1 to 100 characters without "
                      "spaces, quotes, slashes or < > &")
    return name


def check_password(password: str, name: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise Invalid(f"the password has {len(password)} characters; it needs at least "
                      f"{MIN_PASSWORD}")
    if name.casefold() in password.casefold():
        raise Invalid("the password must not contain the user name")


def one_time_password() -> str:
    """A password made for someone (the first admin's, a reset): shown once, replaced at the
    first sign-in."""
    return secrets.token_urlsafe(12)


def get_user(session: Session, name: str) -> User:
    user = session.scalar(select(User).where(User.name == name))
    if user is None:
        raise NotFound(f"there is no user '{name}'; `workhand user list` shows them")
    return user


def create_user(session: Session, name: str, role: Role, password: str | None = None, *,
                language: str = "zh") -> tuple[User, str]:
    """A new user and their password; with no password given, a one-time password is made
    (and must be changed at the first sign-in)."""
    check_name(name)
    if role not in PEOPLE_ROLES:
        raise Invalid(f"people have the roles {', '.join(PEOPLE_ROLES)}; "
                      f"'{role}' is for machines (an API token)")
    if language not in LANGUAGES:
        raise Invalid(f"language '{language}' is not offered; choose zh or en")
    if session.scalar(select(User.id).where(User.name == name)) is not None:
        raise Conflict(f"user '{name}' exists already; `workhand user passwd {name}` "
                       "sets a new password")
    made = password is None
    password = one_time_password() if password is None else password
    if not made:
        check_password(password, name)
    user = User(name=name, role=role.value, password_hash=hasher().hash(password),
                language=language, must_change=made)
    session.add(user)
    session.flush()
    return user, password


def set_password(session: Session, user: User, password: str | None = None) -> str:
    """A new password (a one-time one when none is given); the user's sessions end and their
    failed sign-ins are forgotten."""
    made = password is None
    password = one_time_password() if password is None else password
    if not made:
        check_password(password, user.name)
        if matches(user.password_hash, password):
            raise Invalid("the new password must differ from the old one")
    user.password_hash = hasher().hash(password)
    user.must_change = made
    user.password_changed = utcnow()
    end_sessions(session, user.id)
    session.execute(delete(SignInFailure).where(SignInFailure.name == user.name))
    return password


def set_disabled(session: Session, user: User, disabled: bool) -> None:
    user.disabled = disabled
    if disabled:
        end_sessions(session, user.id)


def end_sessions(session: Session, user_id: int) -> None:
    session.execute(delete(WebSession).where(WebSession.user_id == user_id))


def matches(stored: str, password: str) -> bool:
    try:
        return hasher().verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False


@dataclass(frozen=True)
class Throttled:
    seconds: int  # until the next try may succeed

    @property
    def minutes(self) -> int:
        return max(1, -(-self.seconds // 60))

    def sentence(self) -> str:
        return (f"too many failed sign-ins; try again in {self.minutes} minute(s), or ask an "
                "admin to set a new password (workhand user passwd NAME)")


def throttled(session: Session, name: str, address: str,
              now: dt.datetime | None = None) -> Throttled | None:
    """Whether sign-ins for this name or from this address are refused for now."""
    now = now or utcnow()
    since = now - THROTTLE_WINDOW
    for column, value, limit in ((SignInFailure.name, name, FAILURES_PER_NAME),
                                 (SignInFailure.address, address, FAILURES_PER_ADDRESS)):
        count, oldest = session.execute(
            select(func.count(), func.min(SignInFailure.at))
            .where(column == value, SignInFailure.at > since)).one()
        if count >= limit and oldest is not None:
            return Throttled(max(1, int((aware(oldest) + THROTTLE_WINDOW - now).total_seconds())))
    return None


def authenticate(session: Session, name: str, password: str, address: str,
                 now: dt.datetime | None = None) -> User:
    """The user whose name and password these are, or a Refusal with a sentence that does
    not tell which of the two was wrong. Every failure is recorded for throttling."""
    now = now or utcnow()
    limited = throttled(session, name, address, now)
    if limited is not None:
        raise TooManyTries(limited.sentence(), limited.minutes)
    user = session.scalar(select(User).where(User.name == name))
    good = matches(user.password_hash if user else _dummy_hash(), password)
    if user is None or not good or user.disabled:
        session.execute(delete(SignInFailure).where(SignInFailure.at < now - THROTTLE_WINDOW))
        session.add(SignInFailure(name=name[:100], address=address[:100], at=now))
        if user is not None and good and user.disabled:
            raise Forbidden("this account is disabled; ask an admin")
        raise NotRecognised("wrong user name or password")
    if hasher().check_needs_rehash(user.password_hash):
        user.password_hash = hasher().hash(password)
    session.execute(delete(SignInFailure).where(SignInFailure.name == name))
    return user


def list_users(session: Session) -> list[User]:
    return list(session.scalars(select(User).order_by(User.name)))


FIRST_ADMIN = "admin"


def first_admin(session: Session) -> str | None:
    """With no user yet, the first admin ('admin') and their one-time password; else None."""
    if session.scalar(select(User.id).limit(1)) is not None:
        return None
    return create_user(session, FIRST_ADMIN, Role.ADMIN)[1]
