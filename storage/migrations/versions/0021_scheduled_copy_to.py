"""scheduled messages keep the copy_to given with their send

Revision ID: 0021_scheduled_copy_to
Revises: 0020_client_copies
Create Date: 2026-11-22 23:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = '0021_scheduled_copy_to'
down_revision: str | None = '0020_client_copies'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('scheduled_messages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('copy_to', sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('scheduled_messages', schema=None) as batch_op:
        batch_op.drop_column('copy_to')
