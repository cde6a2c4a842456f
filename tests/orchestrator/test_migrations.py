"""Migrations on databases with rows from before them: 0004 leaves worker tokens unbound (and
refused by the API until replaced), 0005 leaves credentials unbound to hosts; everything else
keeps working, and each goes back."""

from __future__ import annotations

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
