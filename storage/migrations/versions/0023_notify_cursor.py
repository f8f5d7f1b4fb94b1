"""the new-message notification job's cursor is made with the schema

Before, the job made its cursor at its first run, at the newest event then: a message sent between
a fresh server's start and that run was never notified. A new database now starts it at 0; one that
already has events starts it at the newest, so an upgrade notifies nobody of old messages.

Revision ID: 0023_notify_cursor
Revises: 0022_firm_time_zone
Create Date: 2026-11-23 01:00:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0023_notify_cursor"
down_revision: str | None = "0022_firm_time_zone"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # The newest id in a subquery: an aggregate over the outer query would give its row even when
    # the guard filters everything out (then the upgrade after a downgrade failed on the key).
    op.execute(
        "INSERT INTO storage_meta (key, value) SELECT 'notify_fanout_through', (SELECT COALESCE(MAX(id), 0) FROM events)"
        " WHERE NOT EXISTS (SELECT 1 FROM storage_meta WHERE key = 'notify_fanout_through')"
    )


def downgrade() -> None:
    # The cursor stays: the older code reads the same row and goes on from where it is.
    pass
