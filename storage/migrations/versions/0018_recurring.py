"""recurring messages

Revision ID: 0018_recurring
Revises: 0017_reminders
Create Date: 2026-11-22 20:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa

import storage.models
from alembic import op

revision: str = "0018_recurring"
down_revision: str | None = "0017_reminders"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "recurring_messages",
        sa.Column("id", BigId, nullable=False),
        sa.Column("firm_id", BigId, nullable=False),
        sa.Column("thread_id", BigId, nullable=False),
        sa.Column("author_id", BigId, nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("rule", sa.String(length=120), nullable=False),
        sa.Column("time_zone", sa.String(length=64), nullable=False),
        sa.Column("ends_on", sa.Date(), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("next_at", storage.models.UTCDateTime(), nullable=True),
        sa.Column("sent", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", storage.models.UTCDateTime(), nullable=False),
        sa.Column("updated_at", storage.models.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["firm_id"], ["firms.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["thread_id"], ["threads.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["author_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_recurring_messages_firm_id", "recurring_messages", ["firm_id"])
    op.create_index("ix_recurring_messages_thread_id", "recurring_messages", ["thread_id"])


def downgrade() -> None:
    op.drop_index("ix_recurring_messages_thread_id", "recurring_messages")
    op.drop_index("ix_recurring_messages_firm_id", "recurring_messages")
    op.drop_table("recurring_messages")
