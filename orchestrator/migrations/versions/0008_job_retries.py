"""retries of finished jobs: jobs.retry_of names the job a job retries (POST /jobs/{id}/retry),
jobs.skip_items the work item ids done in that job's chain of runs, which a retry of the failed
items does not run again. Jobs stored before this revision are no retries (both null).

retry_of is a plain column without a foreign key (as queue_items.job_id): adding one would
make SQLite copy the jobs table (batch mode), which rebuilds ix_jobs_ready without its DESC;
and jobs are never deleted, so it cannot dangle. Plain nullable columns are added (and
dropped) in place on SQLite and PostgreSQL alike.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("jobs", sa.Column("retry_of", sa.BigInteger(), nullable=True))
    op.add_column("jobs", sa.Column("skip_items", sa.JSON(), nullable=True))


def downgrade() -> None:
    # in place too (SQLite 3.35+ drops a column itself): batch mode's copy of the table would
    # rebuild ix_jobs_ready without its DESC
    op.drop_column("jobs", "skip_items")
    op.drop_column("jobs", "retry_of")
