"""queue items by the job holding them: a job's lease of its next item first takes back its own
unreported ones (queue_work.lease_item), and a released job's items go back (queues.release_items);
without it each looked through every item in progress of the queue

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_queue_items_job", "queue_items", ["job_id", "state"])


def downgrade() -> None:
    op.drop_index("ix_queue_items_job", table_name="queue_items")
