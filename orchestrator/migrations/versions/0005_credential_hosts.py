"""credentials bound to the hosts their secrets may be sent to

A credential stored before this revision has no hosts (null): it goes to any host the worker
allows, as before, until an operator binds it (PUT /api/v1/credentials/NAME with "hosts").

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("credentials") as batch:
        batch.add_column(sa.Column("hosts", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("credentials") as batch:
        batch.drop_column("hosts")
