"""Verbs for recurring messages."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from protocol.values import format_time
from storage.recurring_models import RecurringMessage

ACTIVE, PAUSED, ENDED, CANCELLED, FAILED = "active", "paused", "ended", "cancelled", "failed"


def due_key(recurring_id: int) -> str:
    return f"recurring:{recurring_id}"


@dataclass(frozen=True, slots=True)
class Recurring:
    id: int
    firm_id: int
    thread_id: int
    author_id: int
    body: str
    rule: str
    # None: the firm's.
    time_zone: str | None
    ends_on: date | None
    state: str
    next_at: datetime | None
    sent: int
    error: str | None
    created_at: datetime
    updated_at: datetime


def describe(recurring: Recurring, firm_zone: str) -> dict[str, Any]:
    """A Recurring as clients see it: ``time_zone`` is the one it fires in; ``firm_time_zone``:
    that is the firm's (``firm_zone``), followed when it changes."""
    return {
        "id": recurring.id,
        "thread_id": recurring.thread_id,
        "author_id": recurring.author_id,
        "body": recurring.body,
        "rule": recurring.rule,
        "time_zone": recurring.time_zone or firm_zone,
        "firm_time_zone": recurring.time_zone is None,
        "ends_on": None if recurring.ends_on is None else recurring.ends_on.isoformat(),
        "state": recurring.state,
        "next_at": None if recurring.next_at is None else format_time(recurring.next_at),
        "sent": recurring.sent,
        "error": recurring.error,
        "created_at": format_time(recurring.created_at),
    }


_COLUMNS = (
    RecurringMessage.id,
    RecurringMessage.firm_id,
    RecurringMessage.thread_id,
    RecurringMessage.author_id,
    RecurringMessage.body,
    RecurringMessage.rule,
    RecurringMessage.time_zone,
    RecurringMessage.ends_on,
    RecurringMessage.state,
    RecurringMessage.next_at,
    RecurringMessage.sent,
    RecurringMessage.error,
    RecurringMessage.created_at,
    RecurringMessage.updated_at,
)


def _value(row: Any) -> Recurring:
    return Recurring(**{column.key: getattr(row, column.key) for column in _COLUMNS})


async def insert_recurring(
    conn: AsyncConnection,
    *,
    firm_id: int,
    thread_id: int,
    author_id: int,
    body: str,
    rule: str,
    time_zone: str | None,
    ends_on: date | None,
    next_at: datetime,
    now: datetime,
) -> Recurring:
    row = (
        await conn.execute(
            insert(RecurringMessage)
            .values(
                firm_id=firm_id,
                thread_id=thread_id,
                author_id=author_id,
                body=body,
                rule=rule,
                time_zone=time_zone,
                ends_on=ends_on,
                state=ACTIVE,
                next_at=next_at,
                sent=0,
                created_at=now,
                updated_at=now,
            )
            .returning(*_COLUMNS)
        )
    ).one()
    return _value(row)


async def get_recurring(conn: AsyncConnection, recurring_id: int, *, for_update: bool = False) -> Recurring | None:
    query = select(*_COLUMNS).where(RecurringMessage.id == recurring_id)
    if for_update and conn.dialect.name == "postgresql":
        query = query.with_for_update()
    row = (await conn.execute(query)).first()
    return None if row is None else _value(row)


async def recurring_by_ids(conn: AsyncConnection, ids: list[int]) -> dict[int, Recurring]:
    rows = await conn.execute(select(*_COLUMNS).where(RecurringMessage.id.in_(ids)))
    return {row.id: _value(row) for row in rows}


async def list_recurring(
    conn: AsyncConnection, firm_id: int, *, thread_id: int | None, states: list[str], limit: int
) -> list[Recurring]:
    query = select(*_COLUMNS).where(RecurringMessage.firm_id == firm_id, RecurringMessage.state.in_(states))
    if thread_id is not None:
        query = query.where(RecurringMessage.thread_id == thread_id)
    rows = await conn.execute(query.order_by(RecurringMessage.id).limit(limit))
    return [_value(row) for row in rows]


async def following_firm_zone(conn: AsyncConnection, firm_id: int, state: str) -> list[Recurring]:
    """The firm's recurring messages in that state that have no time zone of their own."""
    query = select(*_COLUMNS).where(
        RecurringMessage.firm_id == firm_id, RecurringMessage.state == state, RecurringMessage.time_zone.is_(None)
    )
    return [_value(row) for row in await conn.execute(query.order_by(RecurringMessage.id))]


async def update_recurring(conn: AsyncConnection, recurring_id: int, now: datetime, **values: Any) -> Recurring:
    row = (
        await conn.execute(
            update(RecurringMessage)
            .where(RecurringMessage.id == recurring_id)
            .values(updated_at=now, **values)
            .returning(*_COLUMNS)
        )
    ).one()
    return _value(row)
