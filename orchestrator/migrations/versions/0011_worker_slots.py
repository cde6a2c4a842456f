"""workers.slots: how many robots each worker runs at once, as it says with each lease request
(the console's 工作站 page sets it against the runs waiting). Workers stored before this
revision, and workers older than it, have not said (null) until their next lease.

A plain nullable column, added and dropped in place on SQLite and PostgreSQL alike (as 0008).

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("workers", sa.Column("slots", sa.Integer(), nullable=True))


def downgrade() -> None:
    # in place too (SQLite 3.35+ drops a column itself), as 0008 and 0009 do
    op.drop_column("workers", "slots")
