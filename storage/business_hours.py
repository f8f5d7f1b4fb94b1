"""Verbs for business hours and the automatic replies they cause."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.automation_models import BusinessHours, ThreadAutoReply


@dataclass(frozen=True, slots=True)
class StoredHours:
    time_zone: str
    week: dict[str, list[list[str]]]
    closed_dates: list[str]
    auto_reply: str | None


def _insert(conn: AsyncConnection) -> type[postgresql.Insert] | type[sqlite.Insert]:
    return postgresql.Insert if conn.dialect.name == "postgresql" else sqlite.Insert


async def get_hours(conn: AsyncConnection, firm_id: int) -> StoredHours | None:
    row = (
        await conn.execute(
            select(
                BusinessHours.time_zone, BusinessHours.week, BusinessHours.closed_dates, BusinessHours.auto_reply
            ).where(BusinessHours.firm_id == firm_id)
        )
    ).first()
    if row is None:
        return None
    return StoredHours(
        time_zone=row.time_zone, week=row.week, closed_dates=list(row.closed_dates), auto_reply=row.auto_reply
    )


async def set_hours(conn: AsyncConnection, firm_id: int, hours: StoredHours, now: datetime) -> None:
    values = {
        "time_zone": hours.time_zone,
        "week": hours.week,
        "closed_dates": hours.closed_dates,
        "auto_reply": hours.auto_reply,
        "updated_at": now,
    }
    statement = _insert(conn)(BusinessHours).values(firm_id=firm_id, **values)
    await conn.execute(statement.on_conflict_do_update(index_elements=[BusinessHours.firm_id], set_=values))


async def set_time_zone(conn: AsyncConnection, firm_id: int, time_zone: str, now: datetime) -> None:
    """Change only the firm's time zone; a firm without business hours gets a row with none (all closed)."""
    statement = _insert(conn)(BusinessHours).values(
        firm_id=firm_id, time_zone=time_zone, week={}, closed_dates=[], auto_reply=None, updated_at=now
    )
    await conn.execute(
        statement.on_conflict_do_update(
            index_elements=[BusinessHours.firm_id], set_={"time_zone": time_zone, "updated_at": now}
        )
    )


async def claim_auto_reply(conn: AsyncConnection, thread_id: int, period_end: datetime) -> bool:
    """Record that the thread is answered for the closed period ending at ``period_end``; False
    when it already was (the caller holds the thread's new-message lock)."""
    statement = _insert(conn)(ThreadAutoReply).values(thread_id=thread_id, period_end=period_end)
    statement = statement.on_conflict_do_update(
        index_elements=[ThreadAutoReply.thread_id],
        set_={"period_end": statement.excluded.period_end},
        where=ThreadAutoReply.period_end != statement.excluded.period_end,
    )
    result = await conn.execute(statement.returning(ThreadAutoReply.thread_id))
    return result.first() is not None
