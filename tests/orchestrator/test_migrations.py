"""Migration 0004 on a database with tokens from before it: worker tokens stay unbound (and
are refused by the API until replaced), everything else keeps working; it also goes back."""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, text

from orchestrator.auth import digest, find_token
from orchestrator.db import MIGRATIONS, make_engine, session_factory


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
