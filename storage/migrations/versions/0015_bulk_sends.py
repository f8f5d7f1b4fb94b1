"""bulk sends: the job found again by its key, and each client's result

Revision ID: 0015_bulk_sends
Revises: 0014_handles
Create Date: 2026-11-22 21:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa

import storage.models
from alembic import op

revision: str = "0015_bulk_sends"
down_revision: str | None = "0014_handles"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "bulk_sends",
        sa.Column("id", BigId, nullable=False),
        sa.Column("firm_id", BigId, nullable=False),
        sa.Column("requester_id", BigId, nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("request", sa.Text(), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("done", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("created_at", storage.models.UTCDateTime(), nullable=False),
        sa.Column("finished_at", storage.models.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["firm_id"], ["firms.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["requester_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("requester_id", "key", name="uq_bulk_sends_requester_key"),
    )
    op.create_table(
        "bulk_results",
        sa.Column("bulk_id", BigId, nullable=False),
        sa.Column("client_account_id", BigId, nullable=False),
        sa.Column("thread_id", BigId, nullable=True),
        sa.Column("error_code", sa.String(length=32), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["bulk_id"], ["bulk_sends.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("bulk_id", "client_account_id"),
    )


def downgrade() -> None:
    op.drop_table("bulk_results")
    op.drop_table("bulk_sends")
