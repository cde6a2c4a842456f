"""Console people: argon2 passwords, one-time passwords, throttled sign-ins, sessions that end;
the audit log that the database keeps from being changed."""

from __future__ import annotations

import contextlib
import datetime as dt

import pytest
from sqlalchemy import Engine, select, text, update
from sqlalchemy.exc import DatabaseError
from sqlalchemy.orm import Session, sessionmaker

from orchestrator import audit, people
from orchestrator.models import AuditEntry, User
from orchestrator.refusals import Forbidden, NotRecognised, Refusal, TooManyTries
from orchestrator.roles import Role
from orchestrator.settings import Settings
from orchestrator.web_sessions import find_session, open_session

PASSWORD = "correct horse battery"


def test_passwords_are_argon2_hashes_and_one_time_ones_must_change(
        sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        user, given = people.create_user(session, "li.na", Role.OPERATOR, PASSWORD)
        assert given == PASSWORD and user.password_hash.startswith("$argon2id$")
        assert PASSWORD not in user.password_hash and not user.must_change
        made, one_time = people.create_user(session, "wang", Role.VIEWER)
        assert made.must_change and len(one_time) >= 16
        assert people.authenticate(session, "wang", one_time, "10.0.0.1").name == "wang"
    with sessions.begin() as session, pytest.raises(Refusal, match="at least 10"):
        people.create_user(session, "short", Role.VIEWER, "2short")
    with sessions.begin() as session, pytest.raises(Refusal, match="user name"):
        people.create_user(session, "zhang", Role.VIEWER, "zhang-the-great")
    with sessions.begin() as session, pytest.raises(Refusal, match="for machines"):
        people.create_user(session, "robot", Role.WORKER, PASSWORD)
    with sessions.begin() as session, pytest.raises(Refusal, match="exists already"):
        people.create_user(session, "li.na", Role.VIEWER, PASSWORD)


def test_failed_sign_ins_are_throttled_by_name_and_by_address(
        sessions: sessionmaker[Session]) -> None:
    now = dt.datetime(2026, 12, 2, 9, tzinfo=dt.UTC)
    with sessions.begin() as session:
        people.create_user(session, "li.na", Role.OPERATOR, PASSWORD)
    for n in range(people.FAILURES_PER_NAME):
        with sessions.begin() as session, pytest.raises(Refusal) as refused:
            people.authenticate(session, "li.na", f"guess {n}", "10.0.0.9", now)
        assert isinstance(refused.value, NotRecognised)
        assert str(refused.value) == "wrong user name or password"
    # the right password is refused too, until the window has passed the first failure
    with sessions.begin() as session, pytest.raises(Refusal) as refused:
        people.authenticate(session, "li.na", PASSWORD, "10.0.0.7", now)
    assert isinstance(refused.value, TooManyTries) and refused.value.minutes == 15
    later = now + people.THROTTLE_WINDOW + dt.timedelta(seconds=1)
    with sessions.begin() as session:
        assert people.authenticate(session, "li.na", PASSWORD, "10.0.0.7", later).name == "li.na"
    # one address trying many names
    with sessions.begin() as session:
        for n in range(people.FAILURES_PER_ADDRESS):
            with contextlib.suppress(Refusal):
                people.authenticate(session, f"name{n}", "x", "10.9.9.9", later)
    with sessions.begin() as session, pytest.raises(Refusal) as refused:
        people.authenticate(session, "li.na", PASSWORD, "10.9.9.9", later)
    assert isinstance(refused.value, TooManyTries)


def test_unknown_names_and_disabled_accounts(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        user, _ = people.create_user(session, "li.na", Role.OPERATOR, PASSWORD)
        people.set_disabled(session, user, True)
    with sessions.begin() as session, pytest.raises(Refusal) as refused:
        people.authenticate(session, "nobody", PASSWORD, "10.0.0.1")
    assert str(refused.value) == "wrong user name or password"  # no telling names that exist
    with sessions.begin() as session, pytest.raises(Refusal) as refused:
        people.authenticate(session, "li.na", PASSWORD, "10.0.0.1")
    assert isinstance(refused.value, Forbidden)


def test_sessions_end_when_idle_expired_disabled_or_the_password_changes(
        sessions: sessionmaker[Session], tmp_path: object) -> None:
    settings = Settings(data_dir=tmp_path)  # type: ignore[arg-type]
    settings.session_idle_minutes, settings.session_hours = 30, 12
    now = dt.datetime(2026, 12, 2, 9, tzinfo=dt.UTC)
    with sessions.begin() as session:
        user, _ = people.create_user(session, "li.na", Role.OPERATOR, PASSWORD)
        cookie = open_session(session, settings, user, "10.0.0.1", now)
        assert find_session(session, settings, cookie, now + dt.timedelta(minutes=29))
        assert find_session(session, settings, cookie[:-2] + "xx", now) is None  # forged
        assert find_session(session, settings, cookie, now + dt.timedelta(minutes=61)) is None
        cookie = open_session(session, settings, user, "10.0.0.1", now)
        for minutes in range(0, 12 * 60, 20):  # busy all day: still ends after 12 hours
            assert find_session(session, settings, cookie, now + dt.timedelta(minutes=minutes))
        assert find_session(session, settings, cookie, now + dt.timedelta(hours=12)) is None
        cookie = open_session(session, settings, user, "10.0.0.1", now)
        people.set_password(session, user, "another long password")
        assert find_session(session, settings, cookie, now) is None
        cookie = open_session(session, settings, user, "10.0.0.1", now)
        people.set_disabled(session, user, True)
        assert find_session(session, settings, cookie, now) is None


def test_the_audit_log_cannot_be_changed_or_deleted(engine: Engine,
                                                    sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        audit.record(session, actor="li.na", kind="user", action="POST /console/users",
                     object="user wang")
    for statement in (update(AuditEntry).values(actor="someone else"),
                      AuditEntry.__table__.delete(), text("DELETE FROM audit_log")):
        with pytest.raises(DatabaseError, match="append-only"), engine.begin() as conn:
            conn.execute(statement)
    with sessions.begin() as session:
        assert session.scalars(select(AuditEntry.actor)).all() == ["li.na"]
        assert session.scalar(select(User.id)) is None
