"""Verbs for notifications, users' notification settings and who is connected."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import msgspec
from sqlalchemy import bindparam, delete, func, insert, select, union_all, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from protocol.values import Notification as NotificationValue
from protocol.values import NotificationKind, Role, format_time
from storage.models import (
    LiveSession,
    Message,
    Meta,
    Notification,
    NotificationSettings,
    Participant,
    Thread,
    User,
)
from storage.rows import AnyRow

_COLUMNS = (
    Notification.id,
    Notification.user_id,
    Notification.kind,
    Notification.thread_id,
    Notification.message_id,
    Notification.summary,
    Notification.created_at,
    Notification.read_at,
)


@dataclass(frozen=True, slots=True)
class StoredNotification:
    user_id: int
    value: NotificationValue


def _stored(row: AnyRow) -> StoredNotification:
    return StoredNotification(
        user_id=row.user_id,
        value=NotificationValue(
            id=row.id,
            kind=NotificationKind(row.kind),
            thread_id=row.thread_id,
            message_id=row.message_id,
            summary=row.summary,
            created_at=format_time(row.created_at),
            read_at=format_time(row.read_at) if row.read_at else None,
        ),
    )


@dataclass(frozen=True, slots=True)
class NewNotification:
    firm_id: int
    user_id: int
    kind: NotificationKind
    thread_id: int | None
    message_id: int | None
    summary: str
    email_pending: bool


async def insert_notifications(
    conn: AsyncConnection, notifications: list[NewNotification], now: datetime
) -> list[StoredNotification]:
    """Store notifications in one statement (one per recipient of every new message otherwise);
    returned in the order given. Each (user, message) may be given once."""
    if not notifications:
        return []
    # RETURNING's row order is not the VALUES order (SQLite does not promise it, and asking
    # SQLAlchemy to sort makes it run one INSERT per row there): match the rows back by key.
    rows = await conn.execute(
        insert(Notification).returning(*_COLUMNS),
        [
            {
                "firm_id": n.firm_id,
                "user_id": n.user_id,
                "kind": n.kind.value,
                "thread_id": n.thread_id,
                "message_id": n.message_id,
                "summary": n.summary[:300],
                "created_at": now,
                "email_state": "pending" if n.email_pending else "none",
            }
            for n in notifications
        ],
    )
    stored = {(row.user_id, row.message_id): _stored(row) for row in rows}
    return [stored[(n.user_id, n.message_id)] for n in notifications]


async def notifications_by_ids(conn: AsyncConnection, ids: list[int]) -> dict[int, StoredNotification]:
    rows = await conn.execute(select(*_COLUMNS).where(Notification.id.in_(ids)))
    return {row.id: _stored(row) for row in rows}


async def list_for_user(
    conn: AsyncConnection, user_id: int, *, unread_only: bool, before_id: int | None, limit: int
) -> list[NotificationValue]:
    query = select(*_COLUMNS).where(Notification.user_id == user_id)
    if unread_only:
        query = query.where(Notification.read_at.is_(None))
    if before_id is not None:
        query = query.where(Notification.id < before_id)
    rows = await conn.execute(query.order_by(Notification.id.desc()).limit(limit))
    return [_stored(row).value for row in rows]


async def mark_read(conn: AsyncConnection, user_id: int, ids: list[int] | None, now: datetime) -> int:
    """Mark the user's notifications read (these ids, or all); the count changed."""
    statement = update(Notification).where(Notification.user_id == user_id, Notification.read_at.is_(None))
    if ids is not None:
        statement = statement.where(Notification.id.in_(ids))
    return int((await conn.execute(statement.values(read_at=now))).rowcount)


@dataclass(frozen=True, slots=True)
class EmailItem:
    id: int
    thread_id: int | None
    thread_subject: str | None
    message_id: int | None
    summary: str
    kind: NotificationKind
    # The user has read the thread up to the message since.
    read: bool


async def pending_emails(conn: AsyncConnection, user_id: int, now: datetime) -> list[EmailItem]:
    rows = await conn.execute(
        select(
            Notification.id,
            Notification.thread_id,
            Thread.subject,
            Notification.message_id,
            Notification.summary,
            Notification.kind,
            Participant.last_read_message_id,
        )
        .outerjoin(Thread, Thread.id == Notification.thread_id)
        .outerjoin(Participant, (Participant.thread_id == Notification.thread_id) & (Participant.user_id == user_id))
        .where(Notification.user_id == user_id, Notification.email_state == "pending", Notification.created_at <= now)
        .order_by(Notification.id)
    )
    return [
        EmailItem(
            id=row.id,
            thread_id=row.thread_id,
            thread_subject=row.subject,
            message_id=row.message_id,
            summary=row.summary,
            kind=NotificationKind(row.kind),
            read=row.message_id is not None and (row.last_read_message_id or 0) >= row.message_id,
        )
        for row in rows
    ]


async def set_email_state(conn: AsyncConnection, ids: list[int], state: str) -> None:
    if ids:
        await conn.execute(
            update(Notification)
            .where(Notification.id.in_(ids), Notification.email_state == "pending")
            .values(email_state=state)
        )


# -- settings --


@dataclass(frozen=True, slots=True)
class Settings:
    phone: str | None
    channels: dict[str, list[str]]
    # Staff: how their messages are copied to clients when a send does not say (CopyChannel values).
    copy_to_client: list[str] = field(default_factory=list)


_SETTINGS_COLUMNS = (
    NotificationSettings.user_id,
    NotificationSettings.phone,
    NotificationSettings.channels,
    NotificationSettings.copy_to_client,
)


def _settings(row: AnyRow) -> Settings:
    return Settings(
        phone=row.phone,
        channels=msgspec.json.decode(row.channels),
        copy_to_client=msgspec.json.decode(row.copy_to_client or "[]"),
    )


async def get_settings(conn: AsyncConnection, user_id: int) -> Settings:
    row = (await conn.execute(select(*_SETTINGS_COLUMNS).where(NotificationSettings.user_id == user_id))).first()
    return Settings(phone=None, channels={}) if row is None else _settings(row)


_SETTINGS_FOR = select(*_SETTINGS_COLUMNS).where(
    NotificationSettings.user_id.in_(bindparam("user_ids", expanding=True))
)


async def settings_for(conn: AsyncConnection, user_ids: list[int]) -> dict[int, Settings]:
    found: dict[int, Settings] = {}
    for start in range(0, len(user_ids), _CHUNK):
        rows = await conn.execute(_SETTINGS_FOR, {"user_ids": user_ids[start : start + _CHUNK]})
        found.update((row.user_id, _settings(row)) for row in rows)
    return found


async def save_settings(conn: AsyncConnection, user_id: int, settings: Settings, now: datetime) -> None:
    values = {
        "user_id": user_id,
        "phone": settings.phone,
        "channels": msgspec.json.encode(settings.channels).decode(),
        "copy_to_client": msgspec.json.encode(settings.copy_to_client).decode(),
        "updated_at": now,
    }
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(NotificationSettings).values(**values)
    await conn.execute(
        statement.on_conflict_do_update(
            index_elements=[NotificationSettings.user_id],
            set_={
                "phone": statement.excluded.phone,
                "channels": statement.excluded.channels,
                "copy_to_client": statement.excluded.copy_to_client,
                "updated_at": now,
            },
        )
    )


@dataclass(frozen=True, slots=True)
class ClientContact:
    user_id: int
    email: str
    name: str
    phone: str | None


async def client_contacts(conn: AsyncConnection, client_account_id: int) -> list[ClientContact]:
    """The active client users of an account, with the phone they gave for SMS."""
    rows = await conn.execute(
        select(User.id, User.email, User.name, NotificationSettings.phone)
        .outerjoin(NotificationSettings, NotificationSettings.user_id == User.id)
        .where(
            User.client_account_id == client_account_id,
            User.role == Role.CLIENT.value,
            User.active.is_(True),
        )
        .order_by(User.id)
    )
    return [ClientContact(user_id=r.id, email=r.email, name=r.name, phone=r.phone) for r in rows]


# -- recipients of a new message --


@dataclass(frozen=True, slots=True)
class Recipient:
    user_id: int
    firm_id: int
    role: Role
    email: str
    name: str


async def message_recipients(conn: AsyncConnection, message_ids: list[int]) -> list[tuple[int, str, list[Recipient]]]:
    """For each new message, in order: (thread, "author: start of the body", who to tell): the
    thread's clients (not for a note) and its staff participants, active, not the author, not bots.
    The messages in one statement and their audiences in another (a statement per message cost
    the fan-out more than its work: half of it, through aiosqlite's thread)."""
    heads: dict[int, Any] = {}
    audiences: dict[int, list[Recipient]] = {}
    for start in range(0, len(message_ids), _CHUNK):
        chunk = {"message_ids": message_ids[start : start + _CHUNK]}
        heads.update((row.id, row) for row in await conn.execute(_MESSAGE_HEADS, chunk))
        for row in await conn.execute(_AUDIENCES, chunk):
            if row.firm_id == row.thread_firm_id:
                audiences.setdefault(row.message_id, []).append(
                    Recipient(
                        user_id=row.user_id, firm_id=row.firm_id, role=Role(row.role), email=row.email, name=row.name
                    )
                )
    return [_summary(heads.get(message_id), audiences.get(message_id, [])) for message_id in message_ids]


def _summary(head: Any, recipients: list[Recipient]) -> tuple[int, str, list[Recipient]]:
    if head is None:
        return 0, "", []
    excerpt = " ".join(head.body.split())
    excerpt = excerpt if len(excerpt) <= 140 else excerpt[:139] + "…"
    return head.thread_id, f"{head.name}: {excerpt}", recipients


# Built once: the fan-out runs them for every batch of new messages.
_MESSAGE_HEADS = (
    select(
        Message.id,
        Message.thread_id,
        Message.author_id,
        Message.kind,
        Message.body,
        Thread.firm_id,
        Thread.client_account_id,
        User.name,
    )
    .join(Thread, Thread.id == Message.thread_id)
    .join(User, User.id == Message.author_id)
    .where(Message.id.in_(bindparam("message_ids", expanding=True)), Message.deleted_at.is_(None))
)
_NEW_MESSAGES = Message.id.in_(bindparam("message_ids", expanding=True)) & Message.deleted_at.is_(None)
_OTHERS = User.active.is_(True) & (User.id != Message.author_id)
# Of the thread's firm: checked on the rows, as a condition it would lead SQLite to walk every user
# of the firm (by its index on firm_id) for each message instead of the thread's participants.
_RECIPIENTS = (
    Message.id.label("message_id"),
    Thread.firm_id.label("thread_firm_id"),
    User.id.label("user_id"),
    User.firm_id,
    User.role,
    User.email,
    User.name,
)
# Each message's staff participants, and for a message (not a note) in a client account's thread
# that account's clients: two joins on indexes (a user is staff or client, never both).
_AUDIENCES = union_all(
    select(*_RECIPIENTS)
    .join(Thread, Thread.id == Message.thread_id)
    .join(Participant, Participant.thread_id == Message.thread_id)
    .join(User, User.id == Participant.user_id)
    .where(_NEW_MESSAGES, _OTHERS, User.role.in_([Role.OWNER.value, Role.MANAGER.value, Role.STAFF.value])),
    select(*_RECIPIENTS)
    .join(Thread, Thread.id == Message.thread_id)
    .join(User, User.client_account_id == Thread.client_account_id)
    .where(_NEW_MESSAGES, _OTHERS, Message.kind == "message", User.role == Role.CLIENT.value),
)
_AUDIENCES = _AUDIENCES.order_by(_AUDIENCES.selected_columns.message_id, _AUDIENCES.selected_columns.user_id)


async def user_contact(conn: AsyncConnection, user_id: int) -> Recipient | None:
    row = (
        await conn.execute(
            select(User.id, User.firm_id, User.role, User.email, User.name, User.active).where(User.id == user_id)
        )
    ).first()
    if row is None or not row.active:
        return None
    return Recipient(user_id=row.id, firm_id=row.firm_id, role=Role(row.role), email=row.email, name=row.name)


# -- the fan-out cursor: how far message events were turned into notifications --


async def read_cursor(conn: AsyncConnection, key: str) -> int:
    """The cursor's value (made by its migration), as this transaction sees it."""
    return int((await conn.execute(select(Meta.value).where(Meta.key == key))).scalar_one())


async def lock_cursor(conn: AsyncConnection, key: str) -> int:
    """The cursor's value (made by its migration), held until commit: one process advances it at a time."""
    query = select(Meta.value).where(Meta.key == key)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()
    return int((await conn.execute(query)).scalar_one())


async def set_cursor(conn: AsyncConnection, key: str, value: int) -> None:
    await conn.execute(update(Meta).where(Meta.key == key).values(value=value))


# -- presence --


# Rows or ids per statement: far under SQLite's and PostgreSQL's bound-parameter limits.
_CHUNK = 500


async def sessions_opened(
    conn: AsyncConnection, sessions: list[tuple[str, int]], process_id: str, now: datetime
) -> None:
    """Record (session id, user id) pairs as connected to this process."""
    for start in range(0, len(sessions), _CHUNK):
        rows = [
            {"id": session_id, "user_id": user_id, "process_id": process_id, "seen_at": now}
            for session_id, user_id in sessions[start : start + _CHUNK]
        ]
        await conn.execute(insert(LiveSession), rows)


async def sessions_closed(conn: AsyncConnection, session_ids: list[str]) -> None:
    for start in range(0, len(session_ids), _CHUNK):
        await conn.execute(delete(LiveSession).where(LiveSession.id.in_(session_ids[start : start + _CHUNK])))


async def live_session_counts(conn: AsyncConnection, user_ids: list[int], since: datetime) -> dict[int, int]:
    """Each user's sessions, on every process, seen since ``since`` (users without any: absent)."""
    counts: dict[int, int] = {}
    for start in range(0, len(user_ids), _CHUNK):
        rows = await conn.execute(
            select(LiveSession.user_id, func.count())
            .where(LiveSession.user_id.in_(user_ids[start : start + _CHUNK]), LiveSession.seen_at >= since)
            .group_by(LiveSession.user_id)
        )
        counts.update({int(user_id): int(count) for user_id, count in rows})
    return counts


async def refresh_sessions(conn: AsyncConnection, process_id: str, now: datetime, stale_before: datetime) -> None:
    """This process's sessions are still there; rows of processes gone without closing are dropped."""
    await conn.execute(update(LiveSession).where(LiveSession.process_id == process_id).values(seen_at=now))
    await conn.execute(delete(LiveSession).where(LiveSession.seen_at < stale_before))


async def is_connected(conn: AsyncConnection, user_id: int, since: datetime) -> bool:
    return bool(await live_sessions(conn, user_id, since))


async def live_sessions(conn: AsyncConnection, user_id: int, since: datetime) -> int:
    """The user's sessions, on every process, seen since ``since``."""
    found = await conn.scalar(select(func.count()).where(LiveSession.user_id == user_id, LiveSession.seen_at >= since))
    return int(found or 0)
