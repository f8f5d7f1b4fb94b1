"""Verbs for tasks (messages someone must act on by a date) and their history."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from protocol.values import Task as TaskValue
from protocol.values import format_time
from storage.errors import NotFound
from storage.models import Message, Task, TaskChange, Thread
from storage.rows import AnyRow
from storage.viewer import Viewer, message_visible, thread_visible

_COLUMNS = (
    Task.id,
    Task.thread_id,
    Task.message_id,
    Task.assignee_id,
    Task.due_on,
    Task.done_at,
    Task.created_by,
    Task.created_at,
)


def _value(row: AnyRow) -> TaskValue:
    return TaskValue(
        id=row.id,
        thread_id=row.thread_id,
        message_id=row.message_id,
        assignee_id=row.assignee_id,
        due_on=None if row.due_on is None else row.due_on.isoformat(),
        done_at=None if row.done_at is None else format_time(row.done_at),
        created_by=row.created_by,
        created_at=format_time(row.created_at),
    )


async def create_task(
    conn: AsyncConnection,
    *,
    firm_id: int,
    thread_id: int,
    message_id: int,
    assignee_id: int,
    due_on: date | None,
    user_id: int,
    now: datetime,
) -> TaskValue:
    row = (
        await conn.execute(
            insert(Task)
            .values(
                firm_id=firm_id,
                thread_id=thread_id,
                message_id=message_id,
                assignee_id=assignee_id,
                due_on=due_on,
                created_by=user_id,
                created_at=now,
            )
            .returning(*_COLUMNS)
        )
    ).one()
    await _record(conn, row.id, user_id, {"created": True, "assignee_id": assignee_id, "due_on": _day(due_on)}, now)
    return _value(row)


async def task_of_message(conn: AsyncConnection, message_id: int) -> TaskValue | None:
    row = (await conn.execute(select(*_COLUMNS).where(Task.message_id == message_id))).one_or_none()
    return None if row is None else _value(row)


async def visible_task(conn: AsyncConnection, viewer: Viewer, task_id: int) -> TaskValue:
    """A task on a message the viewer may see, or NotFound."""
    row = (
        await conn.execute(
            _visible(viewer, select(*_COLUMNS)).where(Task.id == task_id),
        )
    ).one_or_none()
    if row is None:
        raise NotFound(f"task {task_id}")
    return _value(row)


async def update_task(
    conn: AsyncConnection, task_id: int, user_id: int, changes: dict[str, Any], now: datetime
) -> TaskValue:
    """Apply ``changes`` (assignee_id, due_on, done) and write them to the task's history."""
    values: dict[str, Any] = {k: v for k, v in changes.items() if k != "done"}
    if "done" in changes:
        values["done_at"] = now if changes["done"] else None
    row = (await conn.execute(update(Task).where(Task.id == task_id).values(**values).returning(*_COLUMNS))).one()
    recorded = {k: _day(v) if isinstance(v, date) else v for k, v in changes.items()}
    await _record(conn, task_id, user_id, recorded, now)
    return _value(row)


async def list_tasks(
    conn: AsyncConnection,
    viewer: Viewer,
    *,
    assignee_id: int | None,
    thread_id: int | None,
    status: str,
    after_id: int | None,
    limit: int,
) -> list[TaskValue]:
    """Tasks on messages the viewer may see, in the order they were made."""
    query = _visible(viewer, select(*_COLUMNS))
    if assignee_id is not None:
        query = query.where(Task.assignee_id == assignee_id)
    if thread_id is not None:
        query = query.where(Task.thread_id == thread_id)
    if status == "open":
        query = query.where(Task.done_at.is_(None))
    elif status == "done":
        query = query.where(Task.done_at.is_not(None))
    if after_id is not None:
        query = query.where(Task.id > after_id)
    rows = await conn.execute(query.order_by(Task.id).limit(limit))
    return [_value(row) for row in rows]


async def task_history(conn: AsyncConnection, task_id: int) -> list[dict[str, Any]]:
    rows = await conn.execute(
        select(TaskChange.user_id, TaskChange.change, TaskChange.at)
        .where(TaskChange.task_id == task_id)
        .order_by(TaskChange.id)
    )
    return [{"user_id": row.user_id, "change": row.change, "at": format_time(row.at)} for row in rows]


def _visible(viewer: Viewer, query: Any) -> Any:
    return (
        query.join(Message, Message.id == Task.message_id)
        .join(Thread, Thread.id == Task.thread_id)
        .where(Task.firm_id == viewer.firm_id, thread_visible(viewer), message_visible(viewer))
    )


async def _record(conn: AsyncConnection, task_id: int, user_id: int, change: dict[str, Any], now: datetime) -> None:
    await conn.execute(insert(TaskChange).values(task_id=task_id, user_id=user_id, change=change, at=now))


def _day(value: date | None) -> str | None:
    return None if value is None else value.isoformat()
