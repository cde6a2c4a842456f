"""human review (S4): reviews (a work item handed to people, its fields, the decision and the
four-eyes approval) and review_images (each field's crop); queues.review_next (where approved
items go); kpi_daily.review_minutes (people's minutes on reviews, taken off minutes_saved).

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

_WHEN = sa.DateTime(timezone=True)
_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "reviews",
        sa.Column("id", _ID, primary_key=True),
        sa.Column("item_id", sa.BigInteger(), nullable=False),
        sa.Column("queue", sa.String(200), nullable=False),
        sa.Column("reference", sa.String(500), nullable=False),
        sa.Column("job_id", sa.BigInteger(), nullable=True),
        sa.Column("robot", sa.String(200), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("next_queue", sa.String(200), nullable=True),
        sa.Column("fields", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("requested", _WHEN, nullable=False),
        sa.Column("decision", sa.JSON(), nullable=True),
        sa.Column("decided_by", sa.String(200), nullable=True),
        sa.Column("approved_by", sa.String(200), nullable=True),
        sa.Column("finished", _WHEN, nullable=True),
        sa.Column("opened", sa.JSON(), nullable=False),
        sa.Column("review_seconds", sa.Float(), nullable=False),
        sa.Column("next_item_id", sa.BigInteger(), nullable=True),
    )
    op.create_index("ix_reviews_item_id", "reviews", ["item_id"])
    op.create_index("ix_reviews_state", "reviews", ["state", "queue", "id"])
    op.create_table(
        "review_images",
        sa.Column("review_id", _ID, sa.ForeignKey("reviews.id"), primary_key=True),
        sa.Column("field", sa.String(200), primary_key=True),
        sa.Column("png", sa.LargeBinary(), nullable=False),
    )
    op.add_column("queues", sa.Column("review_next", sa.String(200), nullable=True))
    op.add_column("kpi_daily", sa.Column("review_minutes", sa.Float(), nullable=False,
                                         server_default="0"))


def downgrade() -> None:
    op.drop_column("kpi_daily", "review_minutes")
    op.drop_column("queues", "review_next")
    op.drop_table("review_images")
    op.drop_index("ix_reviews_state", table_name="reviews")
    op.drop_index("ix_reviews_item_id", table_name="reviews")
    op.drop_table("reviews")
