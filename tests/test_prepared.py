"""Prepared statements (storage/prepared.py): on the batch writer's inline SQLite connection they
run as plain ``sqlite3`` calls, bypassing SQLAlchemy's execution, with the same values in and out
as SQLAlchemy gives; errors are SQLAlchemy's; what they cannot run is refused at once. Always on
SQLite (its own file), whatever CHATD_TEST_DATABASE says; the PostgreSQL path is ``conn.execute``,
run by every send in the PostgreSQL pass."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import JSON, Boolean, Column, Integer, MetaData, String, Table, bindparam, event, insert, select
from sqlalchemy.exc import IntegrityError

from storage import Database
from storage.models import UTCDateTime
from storage.prepared import Prepared

metadata = MetaData()
notes = Table(
    "notes",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("key", String(20), unique=True, nullable=False),
    Column("pinned", Boolean, nullable=False),
    Column("tags", JSON, nullable=True),
    Column("at", UTCDateTime, nullable=True),
    Column("archived", Boolean, nullable=False, default=False),
)
ADD = Prepared(
    insert(notes)
    .values(
        key=bindparam("key"), pinned=bindparam("pinned"), tags=bindparam("tags"), at=bindparam("at"), archived=False
    )
    .returning(notes.c.id, notes.c.pinned, notes.c.tags, notes.c.at, notes.c.archived)
)
BY_KEY = Prepared(select(notes).where(notes.c.key == bindparam("key")))
AT = datetime(2026, 11, 23, 9, 30, 15, 250_000, tzinfo=UTC)


async def new_database(path: Path) -> tuple[Database, list[str]]:
    """A database with the table; the statements SQLAlchemy executes, as it sees them."""
    db = Database(f"sqlite+aiosqlite:///{path}")
    async with db.write() as conn:
        await conn.run_sync(metadata.create_all)
    seen: list[str] = []
    for engine in db.engines:
        event.listen(engine.sync_engine, "before_cursor_execute", lambda _c, _cur, sql, *_a: seen.append(sql))
    return db, seen


async def test_a_prepared_statement_runs_without_sqlalchemy_and_converts_like_it(tmp_path: Path) -> None:
    db, seen = await new_database(tmp_path / "p.db")
    try:
        async with db.write_batched() as conn:
            (added,) = await ADD.rows(conn, {"key": "a", "pinned": True, "tags": ["x", "y"], "at": AT})
            (empty,) = await ADD.rows(conn, {"key": "b", "pinned": False, "tags": None, "at": None})
            (again,) = await BY_KEY.rows(conn, {"key": "a"})  # reads the batch's own write
        assert not [s for s in seen if "notes" in s], seen  # none went through SQLAlchemy
        assert (added.pinned, added.tags, added.at, added.archived) == (True, ["x", "y"], AT, False)
        assert (empty.pinned, empty.tags, empty.at) == (False, None, None)
        assert again._asdict() == {"id": added.id, "key": "a", "pinned": True, "tags": ["x", "y"], "at": AT} | {
            "archived": False
        }
        # What SQLAlchemy itself reads back (another engine, the driver thread) is the same.
        async with db.read() as conn:
            (through_sqlalchemy,) = await BY_KEY.rows(conn, {"key": "a"})
            rows = (await conn.execute(select(notes).order_by(notes.c.id))).all()
        assert through_sqlalchemy == again
        assert [tuple(r) for r in rows] == [
            (added.id, "a", True, ["x", "y"], AT, False),
            (empty.id, "b", False, None, None, False),
        ]
    finally:
        await db.dispose()


async def test_a_failed_prepared_write_raises_sqlalchemys_error_and_changes_nothing(tmp_path: Path) -> None:
    db, _seen = await new_database(tmp_path / "p.db")
    try:
        async with db.write_batched() as conn:
            await ADD.rows(conn, {"key": "a", "pinned": True, "tags": None, "at": None})

        async def add_c_then_a_again() -> None:
            async with db.write_batched() as conn:
                await ADD.rows(conn, {"key": "c", "pinned": True, "tags": None, "at": None})
                await ADD.rows(conn, {"key": "a", "pinned": False, "tags": None, "at": None})

        with pytest.raises(IntegrityError):
            await add_c_then_a_again()
        async with db.read() as conn:
            keys = (await conn.execute(select(notes.c.key).order_by(notes.c.key))).scalars().all()
        assert keys == ["a"]  # the failed batch member's first row was rolled back with it
    finally:
        await db.dispose()


@pytest.mark.parametrize(
    "statement",
    [
        select(notes.c.id).where(notes.c.key.in_(bindparam("keys", expanding=True))),
        # archived left to its Python-side default, which only SQLAlchemy's execution applies
        insert(notes).values(key=bindparam("key"), pinned=True),
    ],
    ids=["expanding", "python-default"],
)
async def test_what_a_prepared_statement_cannot_run_is_refused_at_once(tmp_path: Path, statement: Any) -> None:
    db, _seen = await new_database(tmp_path / "p.db")
    try:
        with pytest.raises(ValueError, match="not a statement to prepare"):
            async with db.write_batched() as conn:
                await Prepared(statement).rows(conn, {"keys": ["a"], "key": "a"})
    finally:
        await db.dispose()
