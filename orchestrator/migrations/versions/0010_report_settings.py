"""the daily report: its settings (key and JSON value) and one row per day sent, the claim
that makes sending exactly-once across orchestrator processes

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

_WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "report_settings",
        sa.Column("key", sa.String(100), primary_key=True),
        sa.Column("value", sa.JSON(), nullable=False),
        sa.Column("updated", _WHEN, nullable=False),
        sa.Column("updated_by", sa.String(200), nullable=False),
    )
    op.create_table(
        "daily_reports",
        sa.Column("day", sa.Date(), primary_key=True),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("recipients", sa.JSON(), nullable=False),
        sa.Column("message_id", sa.String(500), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("by", sa.String(200), nullable=False),
        sa.Column("claimed", _WHEN, nullable=False),
        sa.Column("finished", _WHEN, nullable=True),
    )


def downgrade() -> None:
    op.drop_table("daily_reports")
    op.drop_table("report_settings")
