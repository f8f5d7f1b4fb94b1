"""Verbs for edit history and the firm's edit window."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from protocol.values import MessageVersion as VersionValue
from protocol.values import format_time
from storage.edit_models import EditWindow, MessageVersion

DEFAULT_EDIT_WINDOW_MINUTES = 15


async def keep_version(conn: AsyncConnection, message_id: int, body: str, written_at: datetime) -> None:
    await conn.execute(insert(MessageVersion).values(message_id=message_id, body=body, written_at=written_at))


async def versions_of(conn: AsyncConnection, message_id: int) -> list[VersionValue]:
    rows = await conn.execute(
        select(MessageVersion.body, MessageVersion.written_at)
        .where(MessageVersion.message_id == message_id)
        .order_by(MessageVersion.id)
    )
    return [VersionValue(body=r.body, written_at=format_time(r.written_at)) for r in rows]


async def edit_window_minutes(conn: AsyncConnection, firm_id: int) -> int:
    found = await conn.scalar(select(EditWindow.minutes).where(EditWindow.firm_id == firm_id))
    return DEFAULT_EDIT_WINDOW_MINUTES if found is None else int(found)


async def set_edit_window(conn: AsyncConnection, firm_id: int, minutes: int) -> None:
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    upsert = dialect.insert(EditWindow).values(firm_id=firm_id, minutes=minutes)
    await conn.execute(upsert.on_conflict_do_update(index_elements=[EditWindow.firm_id], set_={"minutes": minutes}))
