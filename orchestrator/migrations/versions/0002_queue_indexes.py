"""queue item indexes: dispatch order (priority desc, deadline, id) and lease expiry

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("queue_items") as batch:
        batch.drop_index("ix_queue_items_dispatch")
        batch.create_index("ix_queue_items_dispatch",
                           ["queue", "state", sa.text("priority DESC"), "deadline", "id"])
        batch.create_index("ix_queue_items_lease", ["state", "lease_expires"])


def downgrade() -> None:
    with op.batch_alter_table("queue_items") as batch:
        batch.drop_index("ix_queue_items_lease")
        batch.drop_index("ix_queue_items_dispatch")
        batch.create_index("ix_queue_items_dispatch", ["queue", "state", "priority", "id"])
