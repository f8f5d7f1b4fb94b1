"""bots: scope and read-only flag on users, expiry on API tokens

Revision ID: 0002_bots
Revises: 0001
"""

from collections.abc import Sequence

import sqlalchemy as sa

import storage.models
from alembic import op

revision: str = "0002_bots"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # One column per batch: two additions in one SQLite batch (one needing a table copy for its
    # default) can fail with a CircularDependencyError depending on set order.
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("bot_scope", sa.String(length=16), nullable=True))
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("read_only", sa.Boolean(), server_default=sa.false(), nullable=False))
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.add_column(sa.Column("expires_at", storage.models.UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.drop_column("expires_at")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("read_only")
        batch_op.drop_column("bot_scope")
