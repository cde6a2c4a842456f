"""Migrations on databases with rows from before them: 0004 leaves worker tokens unbound (and
refused by the API until replaced), 0005 leaves credentials unbound to hosts, 0011 leaves the
workers' slots unknown; everything else keeps working, and each goes back."""

from __future__ import annotations

import json

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, text

from orchestrator.auth import digest, find_token
from orchestrator.db import MIGRATIONS, make_engine, session_factory
from orchestrator.vault import bindings


def alembic(engine: Engine, target: str, down: bool = False) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        (command.downgrade if down else command.upgrade)(config, target)


def test_0004_keeps_old_tokens_unbound(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        alembic(engine, "0003")
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO tokens (name, role, digest, created, revoked) "
                              "VALUES ('old', 'worker', :d, CURRENT_TIMESTAMP, false)"),
                         {"d": digest("wh_worker_old")})
        alembic(engine, "head")
        with session_factory(engine)() as session:
            old = find_token(session, "wh_worker_old")
            assert old is not None and (old.worker, old.labels) == (None, [])
        alembic(engine, "0003", down=True)
        with engine.begin() as conn:
            assert conn.execute(text("SELECT count(*) FROM tokens")).scalar() == 1
    finally:
        engine.dispose()


def test_0005_leaves_old_credentials_unbound(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        alembic(engine, "0004")
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO credentials (name, field_names, ciphertext, updated) "
                              "VALUES ('bank', '[\"password\"]', :blob, CURRENT_TIMESTAMP)"),
                         {"blob": b"encrypted"})
        alembic(engine, "head")
        with session_factory(engine)() as session:
            assert bindings(session, ["bank"]) == {"bank": None}
        alembic(engine, "0004", down=True)
        with engine.begin() as conn:
            assert conn.execute(text("SELECT count(*) FROM credentials")).scalar() == 1
    finally:
        engine.dispose()


def _ready_index(engine: Engine) -> str:
    """How the database holds ix_jobs_ready (its definition), '' when it is gone."""
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            found = conn.execute(text("SELECT sql FROM sqlite_master WHERE name = "
                                      "'ix_jobs_ready'")).scalar()
        else:
            found = conn.execute(text("SELECT indexdef FROM pg_indexes WHERE indexname = "
                                      "'ix_jobs_ready' AND schemaname = current_schema()")
                                 ).scalar()
    return str(found or "")


def test_0008_leaves_old_jobs_no_retries_and_keeps_the_ready_index(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        alembic(engine, "0007")
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO robot_versions (digest, robot, title, file, bundle, "
                              "savings, credentials, deployed) VALUES ('d', 'r', '', 'r.yaml', "
                              ":b, '{}', '[]', CURRENT_TIMESTAMP)"), {"b": b"zip"})
            conn.execute(text("INSERT INTO jobs (robot, version, inputs, state, priority, "
                              "labels, attempt, max_attempts, retry_delay_s, retry_backoff, "
                              "cancel_requested, source, created) VALUES ('r', 'd', '{}', "
                              "'failed', 0, '[]', 1, 1, 10, 2, false, 'api', "
                              "CURRENT_TIMESTAMP)"))
        index = _ready_index(engine)
        assert "queued" in index
        alembic(engine, "head")
        with engine.connect() as conn:
            assert conn.execute(text("SELECT retry_of, skip_items FROM jobs")).one() == (
                None, None)
        assert _ready_index(engine) == index  # the partial index, WHERE and all
        alembic(engine, "0007", down=True)
        with engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM jobs")).scalar() == 1
        assert _ready_index(engine) == index
    finally:
        engine.dispose()


def test_0009_keeps_robots_and_schedules_and_goes_back(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        alembic(engine, "0008")
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO robot_versions (digest, robot, title, file, bundle, "
                              "savings, credentials, deployed) VALUES ('d', 'r', '', 'r.yaml', "
                              ":b, '{}', '[]', CURRENT_TIMESTAMP)"), {"b": b"zip"})
            conn.execute(text("INSERT INTO schedules (name, robot, cron, timezone, inputs, "
                              "enabled, max_attempts, retry_delay_s, retry_backoff, labels, "
                              "priority, misfire, source) VALUES ('s', 'r', '0 8 * * *', 'UTC', "
                              "'{}', true, 1, 10, 2, '[]', 0, 'run_once', '')"))
        alembic(engine, "head")
        with engine.connect() as conn:
            assert conn.execute(text("SELECT description, deployed_by FROM robot_versions")
                                ).one() == ("", None)
            assert json.loads(str(conn.execute(text("SELECT inputs FROM robot_versions"))
                                  .scalar()).replace("'", '"')) == []
            assert conn.execute(text("SELECT paused, paused_by FROM schedules")).one() in (
                (False, None), (0, None))
        alembic(engine, "0008", down=True)
        with engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM schedules")).scalar() == 1
    finally:
        engine.dispose()


def test_0011_leaves_old_workers_slots_unknown_and_goes_back(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        alembic(engine, "0010")
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO workers (name, labels, last_seen, current_job) "
                              "VALUES ('pc-1', '[]', CURRENT_TIMESTAMP, NULL)"))
        alembic(engine, "head")
        with engine.begin() as conn:
            assert conn.execute(text("SELECT name, slots FROM workers")).one() == ("pc-1", None)
            conn.execute(text("UPDATE workers SET slots = 4"))
        alembic(engine, "0010", down=True)
        with engine.connect() as conn:
            assert set(conn.execute(text("SELECT * FROM workers")).one()._mapping) == {
                "name", "labels", "last_seen", "current_job"}
    finally:
        engine.dispose()
