"""automation: business hours, automatic replies, automatic messages marked

Revision ID: 0016_automation
Revises: 0015_bulk_sends
Create Date: 2026-11-22 20:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa

import storage.models
from alembic import op

revision: str = "0016_automation"
down_revision: str | None = "0015_bulk_sends"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "business_hours",
        sa.Column("firm_id", BigId, nullable=False),
        sa.Column("time_zone", sa.String(length=64), nullable=False),
        sa.Column("week", sa.JSON(), nullable=False),
        sa.Column("closed_dates", sa.JSON(), nullable=False),
        sa.Column("auto_reply", sa.Text(), nullable=True),
        sa.Column("updated_at", storage.models.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["firm_id"], ["firms.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("firm_id"),
    )
    op.create_table(
        "thread_auto_replies",
        sa.Column("thread_id", BigId, nullable=False),
        sa.Column("period_end", storage.models.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["thread_id"], ["threads.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("thread_id"),
    )
    op.add_column("messages", sa.Column("automatic", sa.String(length=16), nullable=True))


def downgrade() -> None:
    # In place (SQLite has dropped columns itself since 3.35): a batch copy of messages would lose
    # the full-text index's triggers (0011_inbox), and search would stop seeing new messages.
    op.drop_column("messages", "automatic")
    op.drop_table("thread_auto_replies")
    op.drop_table("business_hours")
