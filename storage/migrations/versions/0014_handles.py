"""handles: what teammates type after @ to mention a user, unique in the firm

Revision ID: 0014_handles
Revises: 0013_signatures
Create Date: 2026-11-22 20:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op
from storage.handles import first_free, handle_base

revision: str = "0014_handles"
down_revision: str | None = "0013_signatures"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("handle", sa.String(length=64), nullable=True))
    bind = op.get_bind()
    users = sa.table("users", sa.column("id"), sa.column("firm_id"), sa.column("name"), sa.column("email"), sa.column("handle"))
    taken: dict[int, set[str]] = {}
    for row in bind.execute(sa.select(users.c.id, users.c.firm_id, users.c.name, users.c.email).order_by(users.c.id)):
        firm = taken.setdefault(row.firm_id, set())
        handle = first_free(handle_base(row.name, row.email), firm)
        firm.add(handle)
        bind.execute(sa.update(users).where(users.c.id == row.id).values(handle=handle))
    op.create_index("ux_users_firm_handle", "users", ["firm_id", "handle"], unique=True)


def downgrade() -> None:
    op.drop_index("ux_users_firm_handle", table_name="users")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("handle")
