"""people who sign in to the console, their sessions and failed sign-ins; the audit log, which
the database itself keeps from being changed or deleted (triggers); robot versions keep their
description, declared inputs (the console's start form) and who deployed them; schedules can be
paused by people

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

_WHEN = sa.DateTime(timezone=True)
_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    # the console's views of millions of runs: runs by day (created, finished), by worker
    op.create_index("ix_jobs_created", "jobs", ["created"])
    op.create_index("ix_jobs_finished", "jobs", ["finished"])
    op.create_index("ix_jobs_worker", "jobs", ["worker", "id"])
    op.create_index("ix_jobs_state", "jobs", ["state", "id"])  # a state's runs, newest first
    with op.batch_alter_table("schedules") as batch:
        batch.add_column(sa.Column("paused", sa.Boolean(), nullable=False,
                                   server_default=sa.false()))
        batch.add_column(sa.Column("paused_by", sa.String(200), nullable=True))
    with op.batch_alter_table("robot_versions") as batch:
        batch.add_column(sa.Column("description", sa.Text(), nullable=False, server_default=""))
        batch.add_column(sa.Column("inputs", sa.JSON(), nullable=False, server_default="[]"))
        batch.add_column(sa.Column("deployed_by", sa.String(200), nullable=True))
    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(100), nullable=False, unique=True),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("password_hash", sa.String(200), nullable=False),
        sa.Column("language", sa.String(10), nullable=False),
        sa.Column("disabled", sa.Boolean(), nullable=False),
        sa.Column("must_change", sa.Boolean(), nullable=False),
        sa.Column("created", _WHEN, nullable=False),
        sa.Column("password_changed", _WHEN, nullable=False),
    )
    op.create_table(
        "web_sessions",
        sa.Column("digest", sa.String(64), primary_key=True),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("csrf", sa.String(64), nullable=False),
        sa.Column("created", _WHEN, nullable=False),
        sa.Column("last_seen", _WHEN, nullable=False),
        sa.Column("expires", _WHEN, nullable=False),
        sa.Column("address", sa.String(100), nullable=False),
    )
    op.create_index("ix_web_sessions_user_id", "web_sessions", ["user_id"])
    op.create_table(
        "sign_in_failures",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("address", sa.String(100), nullable=False),
        sa.Column("at", _WHEN, nullable=False),
    )
    op.create_index("ix_sign_in_failures_name", "sign_in_failures", ["name", "at"])
    op.create_index("ix_sign_in_failures_address", "sign_in_failures", ["address", "at"])
    op.create_table(
        "audit_log",
        sa.Column("id", _ID, primary_key=True),
        sa.Column("at", _WHEN, nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("actor_kind", sa.String(20), nullable=False),
        sa.Column("action", sa.String(200), nullable=False),
        sa.Column("object", sa.String(500), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.Column("address", sa.String(100), nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
    )
    op.create_index("ix_audit_log_at", "audit_log", ["at"])
    op.create_index("ix_audit_actor", "audit_log", ["actor", "id"])
    op.create_index("ix_audit_action", "audit_log", ["action", "id"])
    # Not editable through the app, nor by a statement that slips past it.
    if op.get_bind().dialect.name == "postgresql":
        op.execute("""
            CREATE FUNCTION audit_log_is_append_only() RETURNS trigger AS $$
            BEGIN
                RAISE EXCEPTION 'the audit log is append-only: its rows cannot be changed or deleted';
            END $$ LANGUAGE plpgsql""")
        op.execute("""
            CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
            FOR EACH ROW EXECUTE FUNCTION audit_log_is_append_only()""")
    else:
        for verb in ("UPDATE", "DELETE"):
            op.execute(f"""
                CREATE TRIGGER audit_log_no_{verb.lower()} BEFORE {verb} ON audit_log
                BEGIN
                    SELECT RAISE(ABORT, 'the audit log is append-only: its rows cannot be changed or deleted');
                END""")


def downgrade() -> None:
    for index in ("ix_jobs_state", "ix_jobs_worker", "ix_jobs_finished", "ix_jobs_created"):
        op.drop_index(index, table_name="jobs")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER audit_log_append_only ON audit_log")
        op.execute("DROP FUNCTION audit_log_is_append_only()")
    for table in ("audit_log", "sign_in_failures", "web_sessions", "users"):
        op.drop_table(table)
    # in place (SQLite 3.35 and later drop columns themselves): a batch copy of robot_versions
    # would drop the table that jobs and robots point at
    for table, column in (("robot_versions", "deployed_by"), ("robot_versions", "inputs"),
                          ("robot_versions", "description"), ("schedules", "paused_by"),
                          ("schedules", "paused")):
        op.execute(f"ALTER TABLE {table} DROP COLUMN {column}")
