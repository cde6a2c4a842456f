"""which attempts worked each item (audit of re-worked items); job items of work queues

job_items.worked_by: the attempts of the job that worked the item; job_items.queue_item_id: the
work-queue item the row is (written when its outcome is taken). queue_items.worked_by: every
[job, attempt] that leased it. Rows stored before this revision have none (null).

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("job_items") as batch:
        batch.add_column(sa.Column("worked_by", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("queue_item_id", sa.BigInteger(), nullable=True))
    op.create_index("ix_job_items_queue_item", "job_items", ["job_id", "queue_item_id"])
    with op.batch_alter_table("queue_items") as batch:
        batch.add_column(sa.Column("worked_by", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("queue_items") as batch:
        batch.drop_column("worked_by")
    op.drop_index("ix_job_items_queue_item", table_name="job_items")
    with op.batch_alter_table("job_items") as batch:
        batch.drop_column("queue_item_id")
        batch.drop_column("worked_by")
