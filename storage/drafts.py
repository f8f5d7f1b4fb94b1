"""Verbs for drafts: save (an empty body forgets), read one thread's or all of a user's."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from protocol.values import Draft as DraftValue
from protocol.values import format_time
from storage.draft_models import Draft


async def save_draft(conn: AsyncConnection, user_id: int, thread_id: int, body: str, now: datetime) -> None:
    if not body.strip():
        await conn.execute(delete(Draft).where(Draft.user_id == user_id, Draft.thread_id == thread_id))
        return
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    upsert = dialect.insert(Draft).values(user_id=user_id, thread_id=thread_id, body=body, updated_at=now)
    await conn.execute(
        upsert.on_conflict_do_update(
            index_elements=[Draft.user_id, Draft.thread_id], set_={"body": body, "updated_at": now}
        )
    )


async def drafts_of(conn: AsyncConnection, user_id: int, thread_id: int | None = None) -> list[DraftValue]:
    """The user's drafts, newest first (one thread's when ``thread_id`` is given)."""
    query = select(Draft.thread_id, Draft.body, Draft.updated_at).where(Draft.user_id == user_id)
    if thread_id is not None:
        query = query.where(Draft.thread_id == thread_id)
    rows = await conn.execute(query.order_by(Draft.updated_at.desc()).limit(500))
    return [DraftValue(thread_id=r.thread_id, body=r.body, updated_at=format_time(r.updated_at)) for r in rows]
