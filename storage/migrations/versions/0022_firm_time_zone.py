"""one firm time zone: the business hours' (generated emails and recurring messages follow it)

The generated-email settings' own time zone moves to the firm's business hours when the firm had no
business hours (a firm with both keeps its business hours' zone, which automatic replies and the
next business morning already used), then the column goes. Recurring messages whose zone is the
firm's (the default they were given) follow the firm's zone from now on (NULL).

Revision ID: 0022_firm_time_zone
Revises: 0021_scheduled_copy_to
Create Date: 2026-11-22 23:45:00.000000
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa

import storage.models
from alembic import op

revision: str = "0022_firm_time_zone"
down_revision: str | None = "0021_scheduled_copy_to"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DEFAULT_ZONE = "UTC"

business_hours = sa.table(
    "business_hours",
    sa.column("firm_id", sa.BigInteger()),
    sa.column("time_zone", sa.String()),
    sa.column("week", sa.JSON()),
    sa.column("closed_dates", sa.JSON()),
    sa.column("auto_reply", sa.Text()),
    sa.column("updated_at", storage.models.UTCDateTime()),
)
genmail_settings = sa.table(
    "generated_email_settings", sa.column("firm_id", sa.BigInteger()), sa.column("time_zone", sa.String())
)
recurring = sa.table(
    "recurring_messages",
    sa.column("id", sa.BigInteger()),
    sa.column("firm_id", sa.BigInteger()),
    sa.column("time_zone", sa.String()),
)


def upgrade() -> None:
    conn = op.get_bind()
    before = {row.firm_id: row.time_zone for row in conn.execute(sa.select(business_hours.c.firm_id, business_hours.c.time_zone))}
    moved = {
        row.firm_id: row.time_zone
        for row in conn.execute(sa.select(genmail_settings.c.firm_id, genmail_settings.c.time_zone))
        if row.firm_id not in before and row.time_zone != DEFAULT_ZONE
    }
    if moved:
        now = datetime.now(UTC)
        op.bulk_insert(
            business_hours,
            [
                {"firm_id": firm, "time_zone": zone, "week": {}, "closed_dates": [], "auto_reply": None, "updated_at": now}
                for firm, zone in moved.items()
            ],
        )
    with op.batch_alter_table("generated_email_settings") as batch_op:
        batch_op.drop_column("time_zone")
    with op.batch_alter_table("recurring_messages") as batch_op:
        batch_op.alter_column("time_zone", existing_type=sa.String(length=64), nullable=True)
    # A rule in its firm's zone got it as the default: it follows the firm's zone, unless the zone
    # the firm has now is another (one moved from the generated-email settings).
    following = [
        row.id
        for row in conn.execute(sa.select(recurring.c.id, recurring.c.firm_id, recurring.c.time_zone))
        if row.firm_id not in moved and row.time_zone == before.get(row.firm_id, DEFAULT_ZONE)
    ]
    if following:
        conn.execute(sa.update(recurring).where(recurring.c.id.in_(following)).values(time_zone=None))


def downgrade() -> None:
    conn = op.get_bind()
    zones = {row.firm_id: row.time_zone for row in conn.execute(sa.select(business_hours.c.firm_id, business_hours.c.time_zone))}
    for row in conn.execute(sa.select(recurring.c.id, recurring.c.firm_id).where(recurring.c.time_zone.is_(None))).all():
        conn.execute(
            sa.update(recurring).where(recurring.c.id == row.id).values(time_zone=zones.get(row.firm_id, DEFAULT_ZONE))
        )
    with op.batch_alter_table("recurring_messages") as batch_op:
        batch_op.alter_column("time_zone", existing_type=sa.String(length=64), nullable=False)
    with op.batch_alter_table("generated_email_settings") as batch_op:
        batch_op.add_column(sa.Column("time_zone", sa.String(length=64), server_default=DEFAULT_ZONE, nullable=False))
    for firm, zone in zones.items():
        conn.execute(sa.update(genmail_settings).where(genmail_settings.c.firm_id == firm).values(time_zone=zone))
