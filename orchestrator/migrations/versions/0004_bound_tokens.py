"""worker tokens bound to a worker name and granted labels; a job token per attempt

A worker token made before this revision has no worker name: it is refused (403, with the
command that makes a bound one) rather than bound to whichever name it sends first, which an
impostor holding it could choose.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tokens") as batch:
        batch.add_column(sa.Column("worker", sa.String(200), nullable=True))
        batch.add_column(sa.Column("labels", sa.JSON(), nullable=False,
                                   server_default=sa.text("'[]'")))
    with op.batch_alter_table("attempts") as batch:
        batch.add_column(sa.Column("token_digest", sa.String(64), nullable=True))
        batch.create_unique_constraint("uq_attempts_token_digest", ["token_digest"])


def downgrade() -> None:
    with op.batch_alter_table("attempts") as batch:
        batch.drop_constraint("uq_attempts_token_digest", type_="unique")
        batch.drop_column("token_digest")
    with op.batch_alter_table("tokens") as batch:
        batch.drop_column("labels")
        batch.drop_column("worker")
