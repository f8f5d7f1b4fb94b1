"""Migration 0022: the generated-email settings' own time zone moves to the firm's business hours
(the one time zone), and recurring messages in their firm's zone follow it from then on."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import command

from storage.database import alembic_config

BEFORE = "0021_scheduled_copy_to"
NOW = "2026-11-22 20:00:00"


def upgrade(url: str, revision: str) -> None:
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        cfg = alembic_config()
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)
    engine.dispose()


def test_the_generated_email_zone_moves_to_the_business_hours_and_default_zones_become_the_firms(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'chatd.db'}"
    upgrade(url, BEFORE)
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        # Firm 1: business hours in Paris and a generated-email zone of its own (Tokyo): Paris wins.
        # Firm 2: only the generated-email zone (New York): it becomes the firm's.
        # Firm 3: nothing set (UTC).
        conn.execute(
            sa.text(
                "INSERT INTO business_hours (firm_id, time_zone, week, closed_dates, auto_reply, updated_at)"
                " VALUES (1, 'Europe/Paris', '{}', '[]', NULL, :now)"
            ),
            {"now": NOW},
        )
        conn.execute(
            sa.text(
                "INSERT INTO generated_email_settings (firm_id, time_zone, run_hour, keep_days)"
                " VALUES (1, 'Asia/Tokyo', 6, 14), (2, 'America/New_York', 7, 10)"
            )
        )
        rows = [(1, 1, "Europe/Paris"), (2, 1, "Asia/Tokyo"), (3, 2, "UTC"), (4, 3, "UTC"), (5, 3, "Europe/Rome")]
        for id_, firm, zone in rows:
            conn.execute(
                sa.text(
                    "INSERT INTO recurring_messages (id, firm_id, thread_id, author_id, body, rule, time_zone,"
                    " state, sent, created_at, updated_at)"
                    " VALUES (:id, :firm, 1, 1, 'x', '0 9 * * *', :zone, 'active', 0, :now, :now)"
                ),
                {"id": id_, "firm": firm, "zone": zone, "now": NOW},
            )
    engine.dispose()

    upgrade(url, "head")

    engine = sa.create_engine(url)
    with engine.connect() as conn:
        zones = dict(conn.execute(sa.text("SELECT firm_id, time_zone FROM business_hours ORDER BY firm_id")).all())
        assert zones == {1: "Europe/Paris", 2: "America/New_York"}
        week = conn.execute(sa.text("SELECT week, closed_dates, auto_reply FROM business_hours WHERE firm_id = 2"))
        assert week.one() == ("{}", "[]", None)
        columns = {c["name"] for c in sa.inspect(conn).get_columns("generated_email_settings")}
        assert columns == {"firm_id", "run_hour", "keep_days"}
        kept = dict(conn.execute(sa.text("SELECT firm_id, run_hour FROM generated_email_settings")).all())
        assert kept == {1: 6, 2: 7}
        recurring = dict(conn.execute(sa.text("SELECT id, time_zone FROM recurring_messages ORDER BY id")).all())
        # Firm 1's Paris rule had the firm's zone: it follows the firm; Tokyo was its own. Firm 2's
        # zone changed with the move: its rule keeps the UTC it fired in. Firm 3's UTC was the default.
        assert recurring == {1: None, 2: "Asia/Tokyo", 3: "UTC", 4: None, 5: "Europe/Rome"}
    engine.dispose()
