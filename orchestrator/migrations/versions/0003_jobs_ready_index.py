"""jobs ready to lease, in dispatch order: a partial index (priority desc, id) over queued and
retrying jobs, so a lease reads the first few of a long backlog instead of sorting it

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

READY = "state IN ('queued', 'retrying')"  # models.READY when this was written


def upgrade() -> None:
    op.create_index("ix_jobs_ready", "jobs", [sa.text("priority DESC"), "id"],
                    postgresql_where=sa.text(READY), sqlite_where=sa.text(READY))


def downgrade() -> None:
    op.drop_index("ix_jobs_ready", "jobs")
