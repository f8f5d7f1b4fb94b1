"""Verbs for bulk sends: the job row (found again by its key), its per-client results."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from protocol.values import BulkResult as ResultValue
from protocol.values import BulkSend as BulkValue
from protocol.values import format_time
from storage.bulk_models import BulkResult, BulkSend
from storage.errors import Duplicate
from storage.rows import AnyRow


@dataclass(frozen=True, slots=True)
class StoredBulk:
    value: BulkValue
    firm_id: int
    requester_id: int
    request: str


def _bulk(row: AnyRow) -> StoredBulk:
    return StoredBulk(
        value=BulkValue(
            id=row.id,
            key=row.key,
            total=row.total,
            done=row.done,
            state=row.state,
            created_at=format_time(row.created_at),
            finished_at=None if row.finished_at is None else format_time(row.finished_at),
        ),
        firm_id=row.firm_id,
        requester_id=row.requester_id,
        request=row.request,
    )


async def insert_bulk(
    conn: AsyncConnection, *, firm_id: int, requester_id: int, key: str, request: str, total: int, now: datetime
) -> StoredBulk:
    try:
        result = await conn.execute(
            insert(BulkSend)
            .values(
                firm_id=firm_id,
                requester_id=requester_id,
                key=key,
                request=request,
                total=total,
                done=0,
                state="running",
                created_at=now,
            )
            .returning(BulkSend.id)
        )
    except IntegrityError as exc:
        raise Duplicate(f"bulk key {key!r} is taken") from exc
    found = await get_bulk(conn, int(result.scalar_one()))
    assert found is not None
    return found


async def get_bulk(conn: AsyncConnection, bulk_id: int) -> StoredBulk | None:
    row = (await conn.execute(select(BulkSend).where(BulkSend.id == bulk_id))).first()
    return None if row is None else _bulk(row)


async def find_by_key(conn: AsyncConnection, requester_id: int, key: str) -> StoredBulk | None:
    row = (
        await conn.execute(select(BulkSend).where(BulkSend.requester_id == requester_id, BulkSend.key == key))
    ).first()
    return None if row is None else _bulk(row)


async def record_results(conn: AsyncConnection, bulk_id: int, results: list[ResultValue], now: datetime) -> None:
    """Store a batch's outcomes and count them done; the job is done when every client has one.
    A client's first outcome stays (two processes resuming the same job record each client once)."""
    if results:
        dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
        await conn.execute(
            dialect.insert(BulkResult).on_conflict_do_nothing(),
            [
                {
                    "bulk_id": bulk_id,
                    "client_account_id": r.client_account_id,
                    "thread_id": r.thread_id,
                    "error_code": None if r.error is None else r.error["code"],
                    "error_message": None if r.error is None else r.error["message"],
                }
                for r in results
            ],
        )
    handled = select(func.count()).select_from(BulkResult).where(BulkResult.bulk_id == bulk_id).scalar_subquery()
    await conn.execute(update(BulkSend).where(BulkSend.id == bulk_id).values(done=handled))
    await conn.execute(
        update(BulkSend)
        .where(BulkSend.id == bulk_id, BulkSend.done >= BulkSend.total)
        .values(state="done", finished_at=now)
    )


async def results_of(conn: AsyncConnection, bulk_id: int) -> list[ResultValue]:
    rows = await conn.execute(
        select(BulkResult).where(BulkResult.bulk_id == bulk_id).order_by(BulkResult.client_account_id)
    )
    return [
        ResultValue(
            client_account_id=r.client_account_id,
            ok=r.error_code is None,
            thread_id=r.thread_id,
            error=None if r.error_code is None else {"code": r.error_code, "message": r.error_message or ""},
        )
        for r in rows
    ]


async def handled_clients(conn: AsyncConnection, bulk_id: int) -> set[int]:
    rows = await conn.scalars(select(BulkResult.client_account_id).where(BulkResult.bulk_id == bulk_id))
    return {int(r) for r in rows}
