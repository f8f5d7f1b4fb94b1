"""edit history: earlier versions of messages, firms' edit windows

Revision ID: 0010_edit_history
Revises: 0009_notifications
Create Date: 2026-11-22 19:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa

import storage.models
from alembic import op

revision: str = "0010_edit_history"
down_revision: str | None = "0009_notifications"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "message_versions",
        sa.Column("id", BigId, nullable=False),
        sa.Column("message_id", BigId, nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("written_at", storage.models.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["message_id"], ["messages.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_message_versions_message_id", "message_versions", ["message_id"], unique=False)
    op.create_table(
        "edit_windows",
        sa.Column("firm_id", BigId, nullable=False),
        sa.Column("minutes", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["firm_id"], ["firms.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("firm_id"),
    )


def downgrade() -> None:
    op.drop_table("edit_windows")
    op.drop_index("ix_message_versions_message_id", table_name="message_versions")
    op.drop_table("message_versions")
