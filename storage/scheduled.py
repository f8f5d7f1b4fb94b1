"""Verbs for scheduled messages (``send`` with ``send_at``)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import msgspec
from sqlalchemy import exists, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from protocol.values import CopyChannel, MessageKind, Role, ScheduledState, format_time
from protocol.values import ScheduledMessage as ScheduledValue
from storage.errors import Duplicate
from storage.models import Message, ScheduledMessage, User
from storage.rows import AnyRow
from storage.viewer import Viewer

_COLUMNS = (
    ScheduledMessage.id,
    ScheduledMessage.firm_id,
    ScheduledMessage.thread_id,
    ScheduledMessage.author_id,
    ScheduledMessage.kind,
    ScheduledMessage.body,
    ScheduledMessage.client_msg_id,
    ScheduledMessage.send_at,
    ScheduledMessage.cancel_if_client_writes,
    ScheduledMessage.copy_to,
    ScheduledMessage.state,
    ScheduledMessage.message_id,
    ScheduledMessage.error,
    ScheduledMessage.created_at,
    ScheduledMessage.updated_at,
)


def due_key(scheduled_id: int) -> str:
    return f"scheduled:{scheduled_id}"


def _value(row: AnyRow) -> ScheduledValue:
    return ScheduledValue(
        id=row.id,
        thread_id=row.thread_id,
        author_id=row.author_id,
        kind=MessageKind(row.kind),
        body=row.body,
        send_at=format_time(row.send_at),
        state=ScheduledState(row.state),
        cancel_if_client_writes=bool(row.cancel_if_client_writes),
        copy_to=None if row.copy_to is None else msgspec.json.decode(row.copy_to, type=list[CopyChannel]),
        client_msg_id=row.client_msg_id,
        created_at=format_time(row.created_at),
        updated_at=format_time(row.updated_at),
        message_id=row.message_id,
        error=row.error,
    )


async def insert_scheduled(
    conn: AsyncConnection,
    *,
    firm_id: int,
    thread_id: int,
    author_id: int,
    kind: MessageKind,
    body: str,
    client_msg_id: str,
    send_at: datetime,
    cancel_if_client_writes: bool,
    copy_to: Sequence[CopyChannel] | None,
    now: datetime,
) -> ScheduledValue:
    statement = (
        insert(ScheduledMessage)
        .values(
            firm_id=firm_id,
            thread_id=thread_id,
            author_id=author_id,
            kind=kind.value,
            body=body,
            client_msg_id=client_msg_id,
            send_at=send_at,
            cancel_if_client_writes=cancel_if_client_writes,
            copy_to=_copy_to(copy_to),
            state=ScheduledState.SCHEDULED.value,
            created_at=now,
            updated_at=now,
        )
        .returning(*_COLUMNS)
    )
    if conn.dialect.name == "sqlite":
        # One writer at a time and the caller looked for the key in this transaction: no race.
        return _value((await conn.execute(statement)).one())
    try:
        async with conn.begin_nested():
            result = await conn.execute(statement)
    except IntegrityError:
        raise Duplicate(f"scheduled message {author_id}/{client_msg_id}") from None
    return _value(result.one())


async def find_by_client_msg_id(conn: AsyncConnection, author_id: int, client_msg_id: str) -> ScheduledValue | None:
    row = (
        await conn.execute(
            select(*_COLUMNS).where(
                ScheduledMessage.author_id == author_id, ScheduledMessage.client_msg_id == client_msg_id
            )
        )
    ).first()
    return None if row is None else _value(row)


async def get_scheduled(conn: AsyncConnection, scheduled_id: int, *, for_update: bool = False) -> ScheduledValue | None:
    query = select(*_COLUMNS).where(ScheduledMessage.id == scheduled_id)
    if for_update and conn.dialect.name == "postgresql":
        query = query.with_for_update()
    row = (await conn.execute(query)).first()
    return None if row is None else _value(row)


async def firm_of(conn: AsyncConnection, scheduled_id: int) -> int | None:
    found = await conn.scalar(select(ScheduledMessage.firm_id).where(ScheduledMessage.id == scheduled_id))
    return None if found is None else int(found)


async def scheduled_by_ids(conn: AsyncConnection, ids: list[int]) -> dict[int, ScheduledValue]:
    rows = await conn.execute(select(*_COLUMNS).where(ScheduledMessage.id.in_(ids)))
    return {row.id: _value(row) for row in rows}


async def list_scheduled(
    conn: AsyncConnection, viewer: Viewer, *, thread_id: int | None, states: list[ScheduledState], limit: int
) -> list[ScheduledValue]:
    """What the viewer may see: staff see the firm's (the caller checks thread visibility), others their own."""
    query = select(*_COLUMNS).where(
        ScheduledMessage.firm_id == viewer.firm_id, ScheduledMessage.state.in_([s.value for s in states])
    )
    if thread_id is not None:
        query = query.where(ScheduledMessage.thread_id == thread_id)
    if viewer.role not in (Role.OWNER, Role.MANAGER, Role.STAFF):
        query = query.where(ScheduledMessage.author_id == viewer.user_id)
    rows = await conn.execute(query.order_by(ScheduledMessage.send_at, ScheduledMessage.id).limit(limit))
    return [_value(row) for row in rows]


async def update_scheduled(conn: AsyncConnection, scheduled_id: int, now: datetime, **values: Any) -> ScheduledValue:
    """Change a scheduled message's fields (body, send_at, copy_to, state, message_id, error)."""
    if "state" in values and isinstance(values["state"], ScheduledState):
        values["state"] = values["state"].value
    if "copy_to" in values:
        values["copy_to"] = _copy_to(values["copy_to"])
    row = (
        await conn.execute(
            update(ScheduledMessage)
            .where(ScheduledMessage.id == scheduled_id)
            .values(updated_at=now, **values)
            .returning(*_COLUMNS)
        )
    ).one()
    return _value(row)


def _copy_to(channels: Sequence[CopyChannel] | None) -> str | None:
    return None if channels is None else msgspec.json.encode(sorted(set(channels))).decode()


async def client_wrote_since(conn: AsyncConnection, thread_id: int, since: datetime) -> bool:
    """Whether a client wrote in the thread after ``since``."""
    query = select(
        exists().where(
            Message.thread_id == thread_id,
            Message.created_at > since,
            Message.author_id == User.id,
            User.role == Role.CLIENT.value,
        )
    )
    return bool(await conn.scalar(query))
