"""Alembic environment: runs on the connection orchestrator.db.migrate() hands over."""

from __future__ import annotations

from alembic import context

from orchestrator.models import Base

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - only `alembic` on the command line gets here
    from sqlalchemy import create_engine

    url = context.config.get_main_option("sqlalchemy.url") or "sqlite:///.workhand/workhand.db"
    connection = create_engine(url).connect()

context.configure(connection=connection, target_metadata=Base.metadata,
                  render_as_batch=connection.dialect.name == "sqlite")
with context.begin_transaction():
    context.run_migrations()
