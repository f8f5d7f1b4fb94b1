"""SQLite's WAL is copied into the database file by a checkpoint of chatd's own, in the background
after commits, never by a commit: SQLite's automatic one ran inside whichever commit crossed
1,000 WAL pages, while that writer held the write lock every queued send waited for."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from sqlalchemy import text

from storage import Database

CHUNK = 100_000  # bytes per row


async def fill(db: Database, rows: int) -> None:
    async with db.write() as conn:
        for _ in range(rows):
            await conn.execute(text("INSERT INTO blobs (data) VALUES (:data)"), {"data": os.urandom(CHUNK)})


async def new_database(path: Path, interval_s: float) -> Database:
    db = Database(f"sqlite+aiosqlite:///{path}", checkpoint_interval_s=interval_s)
    async with db.write() as conn:
        await conn.execute(text("CREATE TABLE blobs (id INTEGER PRIMARY KEY, data BLOB)"))
    return db


async def test_a_commit_past_a_thousand_wal_pages_does_not_checkpoint(tmp_path: Path) -> None:
    path = tmp_path / "chatd.db"
    db = await new_database(path, interval_s=3600)  # no background checkpoint during the test
    try:
        await fill(db, 60)  # 6 MB: 1,500 pages of 4 KiB
        assert path.stat().st_size < 1_000_000  # still in the WAL
        async with db.read() as conn:
            assert (await conn.execute(text("SELECT count(*) FROM blobs"))).scalar_one() == 60
    finally:
        await db.dispose()


async def test_committed_pages_reach_the_database_file_in_the_background(tmp_path: Path) -> None:
    path = tmp_path / "chatd.db"
    db = await new_database(path, interval_s=0)
    try:
        await fill(db, 20)  # 2 MB: fewer pages than SQLite's automatic checkpoint waits for
        for _ in range(200):
            if path.stat().st_size >= 20 * CHUNK:
                break
            await asyncio.sleep(0.05)
        assert path.stat().st_size >= 20 * CHUNK
    finally:
        await db.dispose()
