"""drafts: unsent composer text per user and thread

Revision ID: 0008_drafts
Revises: 0007_templates
Create Date: 2026-11-22 18:55:00
"""

from collections.abc import Sequence

import sqlalchemy as sa

import storage.models
from alembic import op

revision: str = "0008_drafts"
down_revision: str | None = "0007_templates"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "drafts",
        sa.Column("user_id", BigId, nullable=False),
        sa.Column("thread_id", BigId, nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("updated_at", storage.models.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["thread_id"], ["threads.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("user_id", "thread_id"),
    )


def downgrade() -> None:
    op.drop_table("drafts")
