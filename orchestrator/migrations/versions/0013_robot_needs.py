"""robot_versions.needs: the labels a worker must have to run the version (["desktop"] for a
robot that uses desktop steps), derived from the step libraries it uses at deploy
(libs.plan.worker_needs); every job of the robot carries them as labels (jobs.create_job).

Versions stored before this revision have none ([]) until they are deployed again — deploying
the same content again sets them (`workhand up` deploys robots/ at each start) — so a desktop
robot deployed before it may still be leased by a worker with no display, and fails there with
"this run has no screen" (a system error, retried by policy).

A plain column with a server default, added and dropped in place on SQLite and PostgreSQL
alike (as 0011).

Revision ID: 0013
Revises: 0012
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("robot_versions", sa.Column("needs", sa.JSON(), nullable=False,
                                              server_default=sa.text("'[]'")))


def downgrade() -> None:
    op.drop_column("robot_versions", "needs")
