"""signatures: the firm's signature and its composing template, each staff member's

Revision ID: 0013_signatures
Revises: 0012_generated_emails
Create Date: 2026-11-22 20:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa

import storage.models
from alembic import op

revision: str = "0013_signatures"
down_revision: str | None = "0012_generated_emails"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "firm_signatures",
        sa.Column("firm_id", BigId, nullable=False),
        sa.Column("signature", sa.Text(), nullable=False),
        sa.Column("template", sa.Text(), nullable=True),
        sa.Column("updated_at", storage.models.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["firm_id"], ["firms.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("firm_id"),
    )
    op.create_table(
        "staff_signatures",
        sa.Column("user_id", BigId, nullable=False),
        sa.Column("signature", sa.Text(), nullable=False),
        sa.Column("updated_at", storage.models.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("user_id"),
    )


def downgrade() -> None:
    op.drop_table("staff_signatures")
    op.drop_table("firm_signatures")
