"""Verbs for the staff inbox's shared thread state: folders' moves, assignment, follow-ups, labels."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from protocol.values import ThreadState
from storage.models import Thread, ThreadLabel


@dataclass(frozen=True, slots=True)
class DueFollowUp:
    thread_id: int
    firm_id: int
    assignee_id: int | None


async def update_threads(conn: AsyncConnection, thread_ids: list[int], values: dict[str, Any]) -> None:
    if thread_ids and values:
        await conn.execute(update(Thread).where(Thread.id.in_(thread_ids)).values(**values))


async def add_labels(conn: AsyncConnection, thread_ids: list[int], labels: list[str]) -> None:
    rows = [{"thread_id": t, "label": label} for t in thread_ids for label in labels]
    if rows:
        dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
        await conn.execute(dialect.insert(ThreadLabel).values(rows).on_conflict_do_nothing())


async def remove_labels(conn: AsyncConnection, thread_ids: list[int], labels: list[str]) -> None:
    if thread_ids and labels:
        await conn.execute(
            delete(ThreadLabel).where(ThreadLabel.thread_id.in_(thread_ids), ThreadLabel.label.in_(labels))
        )


async def delete_threads(conn: AsyncConnection, thread_ids: list[int]) -> None:
    """Gone for good: messages, participants, labels, tasks and the thread's events go with it."""
    if thread_ids:
        # Foreign keys cascade from the thread (and SQLite's cascades fire the search index's triggers).
        await conn.execute(delete(Thread).where(Thread.id.in_(thread_ids)))


async def wake_on_client_message(conn: AsyncConnection, thread_id: int) -> None:
    """A client wrote: an archived or snoozed thread comes back to the Inbox."""
    await conn.execute(
        update(Thread).where(Thread.id == thread_id).values(state=ThreadState.INBOX.value, snoozed=False)
    )


async def any_follow_up_due(conn: AsyncConnection, now: datetime) -> bool:
    """Whether a thread's follow-up date came: a read, so an idle tick takes no write lock."""
    return await conn.scalar(select(Thread.id).where(Thread.follow_up_at <= now).limit(1)) is not None


async def claim_due_follow_ups(conn: AsyncConnection, now: datetime, limit: int = 500) -> list[DueFollowUp]:
    """Bring threads whose follow-up date came back to the Inbox, marked; each once.

    The conditional update is the claim: a second process running the same statement finds the
    rows already changed (SQLite serializes writers; PostgreSQL re-checks the condition after the
    first transaction's row lock is released)."""
    due = select(Thread.id).where(Thread.follow_up_at <= now).order_by(Thread.follow_up_at).limit(limit)
    rows = await conn.execute(
        update(Thread)
        .where(Thread.id.in_(due.scalar_subquery()), Thread.follow_up_at <= now)
        .values(follow_up_at=None, follow_up_due=True)
        .returning(Thread.id, Thread.firm_id, Thread.assignee_id)
    )
    return [DueFollowUp(thread_id=row.id, firm_id=row.firm_id, assignee_id=row.assignee_id) for row in rows]
