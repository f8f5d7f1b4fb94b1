"""Verbs for due work: rows with a due time and a state, claimed when due.

Two ways to claim. ``claim_due`` takes a row in the caller's transaction and marks it done there:
the caller writes the effect in the same transaction, so the work happens exactly once whatever
the number of processes (PostgreSQL skips rows another transaction holds; SQLite has one writer,
and the conditional ``state = 'pending'`` update settles any race). ``lease_due`` is for work whose
effect leaves the database (an email, an HTTP call): it pushes the due time forward by a lease and
commits, the caller does the I/O, then records the outcome; a process that dies mid-way leaves
the row to come due again when the lease ends (at least once, never lost).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import msgspec
from sqlalchemy import and_, func, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.models import DueWork
from storage.rows import AnyRow

PENDING, DONE, FAILED, CANCELLED = "pending", "done", "failed", "cancelled"


@dataclass(frozen=True, slots=True)
class DueItem:
    id: int
    kind: str
    key: str | None
    firm_id: int | None
    ref_id: int | None
    payload: dict[str, Any]
    due_at: datetime
    state: str
    attempts: int
    last_error: str | None
    created_at: datetime
    finished_at: datetime | None


_COLUMNS = (
    DueWork.id,
    DueWork.kind,
    DueWork.key,
    DueWork.firm_id,
    DueWork.ref_id,
    DueWork.payload,
    DueWork.due_at,
    DueWork.state,
    DueWork.attempts,
    DueWork.last_error,
    DueWork.created_at,
    DueWork.finished_at,
)


def _item(row: AnyRow) -> DueItem:
    return DueItem(
        id=row.id,
        kind=row.kind,
        key=row.key,
        firm_id=row.firm_id,
        ref_id=row.ref_id,
        payload=msgspec.json.decode(row.payload),
        due_at=row.due_at,
        state=row.state,
        attempts=row.attempts,
        last_error=row.last_error,
        created_at=row.created_at,
        finished_at=row.finished_at,
    )


async def schedule(
    conn: AsyncConnection,
    *,
    kind: str,
    due_at: datetime,
    now: datetime,
    key: str | None = None,
    firm_id: int | None = None,
    ref_id: int | None = None,
    payload: dict[str, Any] | None = None,
    keep_earlier: bool = False,
) -> DueItem:
    """Add a pending row. With a ``key``, a pending row of that key is moved to ``due_at`` and given
    the payload instead (``keep_earlier``: unless it is already due sooner), so there is one at most."""
    values = {
        "kind": kind,
        "key": key,
        "firm_id": firm_id,
        "ref_id": ref_id,
        "payload": msgspec.json.encode(payload or {}).decode(),
        "due_at": due_at,
        "state": PENDING,
        "attempts": 0,
        "created_at": now,
    }
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(DueWork).values(**values)
    new_due: Any = statement.excluded.due_at
    if keep_earlier:
        smaller = func.least if conn.dialect.name == "postgresql" else func.min
        new_due = smaller(DueWork.due_at, statement.excluded.due_at)
    statement = statement.on_conflict_do_update(
        index_elements=[DueWork.key],
        index_where=text("state = 'pending'"),
        set_={"due_at": new_due, "payload": statement.excluded.payload, "kind": kind, "attempts": 0},
    )
    row = (await conn.execute(statement.returning(*_COLUMNS))).one()
    return _item(row)


async def cancel(conn: AsyncConnection, *, key: str, now: datetime) -> bool:
    """Cancel the pending row of ``key``; whether there was one."""
    result = await conn.execute(
        update(DueWork).where(DueWork.key == key, DueWork.state == PENDING).values(state=CANCELLED, finished_at=now)
    )
    return bool(result.rowcount)


async def pending_by_key(conn: AsyncConnection, key: str) -> DueItem | None:
    row = (await conn.execute(select(*_COLUMNS).where(DueWork.key == key, DueWork.state == PENDING))).first()
    return None if row is None else _item(row)


async def any_due(conn: AsyncConnection, kinds: list[str], now: datetime) -> bool:
    """Whether a row of these kinds is due: a read, so an idle tick takes no write lock."""
    due = select(DueWork.id).where(DueWork.state == PENDING, DueWork.due_at <= now, DueWork.kind.in_(kinds))
    return await conn.scalar(due.limit(1)) is not None


def _next_due_id(conn: AsyncConnection, kinds: list[str], now: datetime) -> Any:
    query = (
        select(DueWork.id)
        .where(DueWork.state == PENDING, DueWork.due_at <= now, DueWork.kind.in_(kinds))
        .order_by(DueWork.due_at, DueWork.id)
        .limit(1)
    )
    if conn.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    return query.scalar_subquery()


async def claim_due(conn: AsyncConnection, kinds: list[str], now: datetime) -> DueItem | None:
    """Take the oldest due row of these kinds and mark it done, in the caller's transaction."""
    statement = (
        update(DueWork)
        .where(DueWork.id == _next_due_id(conn, kinds, now), DueWork.state == PENDING)
        .values(state=DONE, finished_at=now, attempts=DueWork.attempts + 1)
        .returning(*_COLUMNS)
    )
    row = (await conn.execute(statement)).first()
    return None if row is None else _item(row)


async def lease_due(conn: AsyncConnection, kinds: list[str], now: datetime, lease: timedelta) -> DueItem | None:
    """Take the oldest due row of these kinds for ``lease``: it stays pending, due again when the
    lease ends unless its outcome is recorded first. ``attempts`` identifies this lease."""
    statement = (
        update(DueWork)
        .where(DueWork.id == _next_due_id(conn, kinds, now), DueWork.state == PENDING)
        .values(due_at=now + lease, attempts=DueWork.attempts + 1)
        .returning(*_COLUMNS)
    )
    row = (await conn.execute(statement)).first()
    return None if row is None else _item(row)


async def finish_lease(conn: AsyncConnection, item: DueItem, now: datetime) -> bool:
    """Mark a leased row done, if the lease is still ours; whether it was."""
    result = await conn.execute(
        update(DueWork)
        .where(DueWork.id == item.id, DueWork.state == PENDING, DueWork.attempts == item.attempts)
        .values(state=DONE, finished_at=now, last_error=None)
    )
    return bool(result.rowcount)


async def record_failure(
    conn: AsyncConnection, item: DueItem, error: str, *, retry_at: datetime | None, now: datetime
) -> None:
    """After a failed attempt: due again at ``retry_at``, or failed for good without one."""
    values: dict[str, Any] = {"last_error": error[:2000]}
    if retry_at is None:
        values.update(state=FAILED, finished_at=now)
    else:
        values.update(state=PENDING, due_at=retry_at, finished_at=None)
    await conn.execute(update(DueWork).where(DueWork.id == item.id, DueWork.attempts == item.attempts).values(**values))


async def record_crash(
    conn: AsyncConnection, item: DueItem, error: str, *, retry_at: datetime | None, now: datetime
) -> None:
    """After a claim whose transaction failed and rolled back: count the attempt, due again at
    ``retry_at`` or failed for good without one."""
    values: dict[str, Any] = {"last_error": error[:2000], "attempts": item.attempts}
    if retry_at is None:
        values.update(state=FAILED, finished_at=now)
    else:
        values.update(due_at=retry_at)
    await conn.execute(update(DueWork).where(DueWork.id == item.id, DueWork.state == PENDING).values(**values))


async def set_outcome(
    conn: AsyncConnection,
    item_id: int,
    *,
    now: datetime,
    state: str,
    due_at: datetime | None = None,
    error: str | None = None,
) -> None:
    """Settle a claimed row otherwise than done: pending again at ``due_at`` (a recurrence: the
    attempt count starts over), or failed with the reason."""
    values: dict[str, Any] = {"state": state, "last_error": error}
    if state == PENDING:
        assert due_at is not None
        values.update(due_at=due_at, attempts=0, finished_at=None)
    else:
        values.update(finished_at=now)
    await conn.execute(update(DueWork).where(DueWork.id == item_id).values(**values))


async def retry_now(
    conn: AsyncConnection, item_id: int, firm_id: int, now: datetime, *, kinds: list[str]
) -> DueItem | None:
    """Put a failed row of these kinds back in the queue, due now; None when the firm has no such row."""
    row = (
        await conn.execute(
            update(DueWork)
            .where(DueWork.id == item_id, DueWork.firm_id == firm_id, DueWork.state == FAILED, DueWork.kind.in_(kinds))
            .values(state=PENDING, due_at=now, attempts=0, finished_at=None)
            .returning(*_COLUMNS)
        )
    ).first()
    return None if row is None else _item(row)


async def list_items(
    conn: AsyncConnection,
    *,
    firm_id: int,
    kinds: list[str],
    states: list[str],
    limit: int,
    before_id: int | None = None,
) -> list[DueItem]:
    """A firm's rows of these kinds and states, newest first."""
    conditions = [DueWork.firm_id == firm_id, DueWork.kind.in_(kinds), DueWork.state.in_(states)]
    if before_id is not None:
        conditions.append(DueWork.id < before_id)
    rows = await conn.execute(select(*_COLUMNS).where(and_(*conditions)).order_by(DueWork.id.desc()).limit(limit))
    return [_item(row) for row in rows]


async def count_by_state(conn: AsyncConnection, kinds: list[str]) -> dict[str, int]:
    rows = await conn.execute(
        select(DueWork.state, func.count()).where(DueWork.kind.in_(kinds)).group_by(DueWork.state)
    )
    return {row[0]: int(row[1]) for row in rows}
