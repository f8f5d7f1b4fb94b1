"""Migration 0022: the generated-email settings' own time zone moves to the firm's business hours
(the one time zone), and recurring messages in their firm's zone follow it from then on. On the
test database (SQLite, or PostgreSQL with CHATD_TEST_DATABASE=postgresql)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine

from storage.database import alembic_config
from tests.support import database_env

BEFORE = "0021_scheduled_copy_to"
NOW = datetime(2026, 11, 22, 20, 0)


async def upgrade(conn: AsyncConnection, revision: str) -> None:
    def run(sync: sa.Connection) -> None:
        cfg = alembic_config()
        cfg.attributes["connection"] = sync
        command.upgrade(cfg, revision)

    await conn.run_sync(run)


async def test_the_generated_email_zone_moves_to_the_business_hours_and_default_zones_become_the_firms(
    tmp_path: Path,
) -> None:
    url = database_env(tmp_path).get("CHATD_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'chatd.db'}")
    engine = create_async_engine(url)
    async with engine.begin() as conn:
        await upgrade(conn, BEFORE)
    async with engine.begin() as conn:
        for firm in (1, 2, 3):
            await conn.execute(
                sa.text(
                    "INSERT INTO firms (id, name, staff_see_all_threads, clients_may_start_threads,"
                    " read_receipts_to_clients, urgent_renotify_minutes, created_at)"
                    " VALUES (:id, 'Firm', true, true, true, 5, :now)"
                ),
                {"id": firm, "now": NOW},
            )
        if conn.dialect.name == "postgresql":
            # Recurring messages without their threads and authors: only the migrated tables matter here.
            await conn.execute(sa.text("SET LOCAL session_replication_role = replica"))
        # Firm 1: business hours in Paris and a generated-email zone of its own (Tokyo): Paris wins.
        # Firm 2: only the generated-email zone (New York): it becomes the firm's.
        # Firm 3: nothing set (UTC).
        await conn.execute(
            sa.text(
                "INSERT INTO business_hours (firm_id, time_zone, week, closed_dates, auto_reply, updated_at)"
                " VALUES (1, 'Europe/Paris', '{}', '[]', NULL, :now)"
            ),
            {"now": NOW},
        )
        await conn.execute(
            sa.text(
                "INSERT INTO generated_email_settings (firm_id, time_zone, run_hour, keep_days)"
                " VALUES (1, 'Asia/Tokyo', 6, 14), (2, 'America/New_York', 7, 10)"
            )
        )
        rows = [(1, 1, "Europe/Paris"), (2, 1, "Asia/Tokyo"), (3, 2, "UTC"), (4, 3, "UTC"), (5, 3, "Europe/Rome")]
        for id_, firm, zone in rows:
            await conn.execute(
                sa.text(
                    "INSERT INTO recurring_messages (id, firm_id, thread_id, author_id, body, rule, time_zone,"
                    " state, sent, created_at, updated_at)"
                    " VALUES (:id, :firm, 1, 1, 'x', '0 9 * * *', :zone, 'active', 0, :now, :now)"
                ),
                {"id": id_, "firm": firm, "zone": zone, "now": NOW},
            )
    async with engine.begin() as conn:
        await upgrade(conn, "head")

    async with engine.connect() as conn:
        found = await conn.execute(
            sa.text("SELECT firm_id, time_zone, week, closed_dates, auto_reply FROM business_hours")
        )
        hours = {row.firm_id: (row.time_zone, str(row.week), str(row.closed_dates), row.auto_reply) for row in found}
        assert hours == {1: ("Europe/Paris", "{}", "[]", None), 2: ("America/New_York", "{}", "[]", None)}
        columns = await conn.run_sync(
            lambda sync: {c["name"] for c in sa.inspect(sync).get_columns("generated_email_settings")}
        )
        assert columns == {"firm_id", "run_hour", "keep_days"}
        kept = dict((await conn.execute(sa.text("SELECT firm_id, run_hour FROM generated_email_settings"))).all())
        assert kept == {1: 6, 2: 7}
        recurring = dict((await conn.execute(sa.text("SELECT id, time_zone FROM recurring_messages"))).all())
        # Firm 1's Paris rule had the firm's zone: it follows the firm; Tokyo was its own. Firm 2's
        # zone changed with the move: its rule keeps the UTC it fired in. Firm 3's UTC was the default.
        assert recurring == {1: None, 2: "Asia/Tokyo", 3: "UTC", 4: None, 5: "Europe/Rome"}
    await engine.dispose()
