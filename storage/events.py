"""Verbs for the durable event log that ``resume`` replays and the hub fills gaps from."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, bindparam, delete, func, insert, or_, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.models import Event, Meta, Thread
from storage.prepared import Prepared
from storage.rows import AnyRow
from storage.viewer import Viewer, thread_visible

PRUNED_THROUGH = "events_pruned_through"


@dataclass(frozen=True, slots=True)
class EventRecord:
    id: int
    firm_id: int
    type: str
    thread_id: int | None
    message_id: int | None
    user_id: int | None
    ref_id: int | None
    client_ref_id: int | None
    staff_only: bool
    private_to: int | None = None
    private_from: int | None = None
    managers_only: bool = False


_COLUMNS = (
    Event.id,
    Event.firm_id,
    Event.type,
    Event.thread_id,
    Event.message_id,
    Event.user_id,
    Event.ref_id,
    Event.client_ref_id,
    Event.staff_only,
    Event.private_to,
    Event.private_from,
    Event.managers_only,
)


def _record(row: AnyRow) -> EventRecord:
    return EventRecord(
        id=row.id,
        firm_id=row.firm_id,
        type=row.type,
        thread_id=row.thread_id,
        message_id=row.message_id,
        user_id=row.user_id,
        ref_id=row.ref_id,
        client_ref_id=row.client_ref_id,
        staff_only=bool(row.staff_only),
        private_to=row.private_to,
        private_from=row.private_from,
        managers_only=bool(row.managers_only),
    )


async def append_event(
    conn: AsyncConnection,
    *,
    firm_id: int,
    type: str,
    thread_id: int | None,
    now: datetime,
    message_id: int | None = None,
    user_id: int | None = None,
    ref_id: int | None = None,
    client_ref_id: int | None = None,
    staff_only: bool = False,
    private_to: int | None = None,
    private_from: int | None = None,
    managers_only: bool = False,
) -> EventRecord:
    if conn.dialect.name == "postgresql":
        # The transaction must hold its xid before it takes an event id: settled_event_id finds
        # in-flight writers by their xids.
        await conn.execute(_XACT_ID)
    (row,) = await _APPEND.rows(
        conn,
        {
            "firm_id": firm_id,
            "type": type,
            "thread_id": thread_id,
            "message_id": message_id,
            "user_id": user_id,
            "ref_id": ref_id,
            "client_ref_id": client_ref_id,
            "staff_only": staff_only,
            "private_to": private_to,
            "private_from": private_from,
            "managers_only": managers_only,
            "created_at": now,
        },
    )
    return _record(row)


# Built once (every write appends events): building a statement costs more CPU than running it.
_XACT_ID = select(func.pg_current_xact_id())
_APPEND = Prepared(
    insert(Event)
    .values({column.key: bindparam(column.key) for column in _COLUMNS[1:]} | {"created_at": bindparam("created_at")})
    .returning(*_COLUMNS)
)


@dataclass(frozen=True, slots=True)
class NewEvent:
    firm_id: int
    type: str
    thread_id: int | None
    user_id: int | None = None
    ref_id: int | None = None


async def append_events(conn: AsyncConnection, events: list[NewEvent], now: datetime) -> list[EventRecord]:
    """Append events in one statement (a user's own events about one of their rows: no message,
    visible to them alone); returned in the order given. Each (type, user, ref) may be given once."""
    if not events:
        return []
    if conn.dialect.name == "postgresql":
        await conn.execute(_XACT_ID)
    # Matched back by key: RETURNING's row order is not the VALUES order.
    rows = await conn.execute(
        insert(Event).returning(*_COLUMNS),
        [
            {
                "firm_id": e.firm_id,
                "type": e.type,
                "thread_id": e.thread_id,
                "message_id": None,
                "user_id": e.user_id,
                "ref_id": e.ref_id,
                "client_ref_id": None,
                "staff_only": False,
                "private_to": None,
                "private_from": None,
                "managers_only": False,
                "created_at": now,
            }
            for e in events
        ],
    )
    records = {(r.type, r.user_id, r.ref_id): r for r in map(_record, rows)}
    return [records[(e.type, e.user_id, e.ref_id)] for e in events]


async def newest_event_id(conn: AsyncConnection, firm_id: int | None = None, *, through: int | None = None) -> int:
    """The newest event id (of the firm, at most ``through``), or of the whole store; when there is
    none left, how far events were pruned (0 on a new store), so ids handed out stay monotonic."""
    query = select(func.max(Event.id))
    if firm_id is not None:
        query = query.where(Event.firm_id == firm_id)
    if through is not None:
        query = query.where(Event.id <= through)
    found = await conn.scalar(query)
    if found is None:
        found = await pruned_through(conn)
    return int(found)


async def settled_event_id(conn: AsyncConnection) -> int:
    """An id such that every event at or below it is committed, or never will be.

    Returns once that holds for the newest committed id. On SQLite ids are handed out by the one
    writer, so commit order is id order. On PostgreSQL a transaction can take id 12, another id 13
    and commit first; a reader that moved past 13 would never see 12. So: read the newest
    committed id M, then list the transactions in flight (each event writer holds its xid before
    taking an id, so whoever holds an id at or below M is among them or done), and wait until they
    are all done. The caller's next statement takes a newer snapshot and sees every event up to M.
    """
    newest = await newest_event_id(conn)
    if conn.dialect.name != "postgresql":
        return newest
    in_flight = list(await conn.scalars(text("SELECT x::text FROM pg_snapshot_xip(pg_current_snapshot()) AS x")))
    pause = 0.001
    while in_flight:
        await asyncio.sleep(pause)
        pause = min(pause * 2, 0.02)
        in_flight = list(
            await conn.scalars(
                text(
                    "SELECT x FROM unnest(CAST(:xids AS text[])) AS x"
                    " WHERE NOT pg_visible_in_snapshot(CAST(x AS xid8), pg_current_snapshot())"
                ),
                {"xids": in_flight},
            )
        )
    return newest


async def events_for_viewer(
    conn: AsyncConnection, viewer: Viewer, *, after: int, through: int, limit: int
) -> list[EventRecord]:
    """Events in (after, through] the viewer may see, oldest first, at most ``limit``."""
    # A deleted thread's event keeps no thread (the row is gone): it names the thread in ref_id and
    # its client account in client_ref_id.
    deleted_thread_seen = (
        Event.client_ref_id == viewer.client_account_id if viewer.is_client else Event.staff_only.is_(False)
    )
    query = (
        select(*_COLUMNS)
        .outerjoin(Thread, Thread.id == Event.thread_id)
        .where(
            Event.firm_id == viewer.firm_id,
            Event.id > after,
            Event.id <= through,
            or_(thread_visible(viewer), and_(Event.thread_id.is_(None), deleted_thread_seen)),
            or_(Event.private_to.is_(None), Event.private_to == viewer.user_id, Event.private_from == viewer.user_id),
        )
    )
    if not viewer.sees_remarks:
        query = query.where(or_(Event.managers_only.is_(False), Event.private_from == viewer.user_id))
    if viewer.is_client:
        query = query.where(Event.staff_only.is_(False))
    # A notification is its recipient's alone.
    query = query.where(or_(Event.type != "notification", Event.user_id == viewer.user_id))
    rows = await conn.execute(query.order_by(Event.id).limit(limit))
    return [_record(row) for row in rows]


async def events_between(conn: AsyncConnection, after: int, through: int) -> list[EventRecord]:
    rows = await conn.execute(select(*_COLUMNS).where(Event.id > after, Event.id <= through).order_by(Event.id))
    return [_record(row) for row in rows]


async def mentions_since(conn: AsyncConnection, after: int, message_ids: Sequence[int]) -> set[tuple[int, int]]:
    """(message, user) of each ``mention`` event after id ``after``, for these messages (committed
    so far, however recent)."""
    if not message_ids:
        return set()
    rows = await conn.execute(
        select(Event.message_id, Event.user_id).where(
            Event.id > after, Event.type == "mention", Event.message_id.in_(message_ids)
        )
    )
    return {(row.message_id, row.user_id) for row in rows}


async def pruned_through(conn: AsyncConnection) -> int:
    found = await conn.scalar(select(Meta.value).where(Meta.key == PRUNED_THROUGH))
    return 0 if found is None else int(found)


async def prune_events(conn: AsyncConnection, older_than: datetime) -> int:
    """Delete events created before ``older_than``; remember the newest id deleted. Returns the count."""
    newest = await conn.scalar(select(func.max(Event.id)).where(Event.created_at < older_than))
    if newest is None:
        return 0
    result = await conn.execute(delete(Event).where(Event.id <= newest))
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    upsert = dialect.insert(Meta).values(key=PRUNED_THROUGH, value=newest)
    await conn.execute(upsert.on_conflict_do_update(index_elements=[Meta.key], set_={"value": newest}))
    return int(result.rowcount)
