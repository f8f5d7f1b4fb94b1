"""Verbs for reply reminders: their settings per thread, and the messages they are about."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import exists, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from protocol.values import MessageKind, Role
from storage.models import Firm, Message, Thread, User
from storage.reminder_models import ReplyReminder


def due_key(thread_id: int) -> str:
    return f"reminder:{thread_id}"


def resend_key(thread_id: int) -> str:
    return f"reminder-now:{thread_id}"


@dataclass(frozen=True, slots=True)
class Reminder:
    thread_id: int
    enabled: bool
    interval_days: int
    count: int
    sent: int
    message_id: int | None
    # Who turned them on or last changed them.
    updated_by: int | None


@dataclass(frozen=True, slots=True)
class StaffMessage:
    id: int
    body: str
    html: str
    author_name: str
    thread_subject: str
    firm_name: str


_COLUMNS = (
    ReplyReminder.thread_id,
    ReplyReminder.enabled,
    ReplyReminder.interval_days,
    ReplyReminder.max_count,
    ReplyReminder.sent_count,
    ReplyReminder.message_id,
    ReplyReminder.updated_by,
)


async def get_reminder(conn: AsyncConnection, thread_id: int, *, for_update: bool = False) -> Reminder | None:
    query = select(*_COLUMNS).where(ReplyReminder.thread_id == thread_id)
    if for_update and conn.dialect.name == "postgresql":
        query = query.with_for_update()
    row = (await conn.execute(query)).first()
    if row is None:
        return None
    return Reminder(
        thread_id=row.thread_id,
        enabled=bool(row.enabled),
        interval_days=row.interval_days,
        count=row.max_count,
        sent=row.sent_count,
        message_id=row.message_id,
        updated_by=row.updated_by,
    )


async def set_reminder(
    conn: AsyncConnection,
    *,
    thread_id: int,
    firm_id: int,
    enabled: bool,
    interval_days: int,
    count: int,
    user_id: int,
    now: datetime,
) -> None:
    """Turn reminders on or off with their settings; the count sent starts over."""
    values = {
        "enabled": enabled,
        "interval_days": interval_days,
        "max_count": count,
        "sent_count": 0,
        "message_id": None,
        "updated_by": user_id,
        "updated_at": now,
    }
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(ReplyReminder).values(thread_id=thread_id, firm_id=firm_id, **values)
    await conn.execute(statement.on_conflict_do_update(index_elements=[ReplyReminder.thread_id], set_=values))


async def set_progress(conn: AsyncConnection, thread_id: int, *, message_id: int | None, sent: int) -> None:
    await conn.execute(
        update(ReplyReminder).where(ReplyReminder.thread_id == thread_id).values(message_id=message_id, sent_count=sent)
    )


async def last_staff_message(conn: AsyncConnection, thread_id: int) -> StaffMessage | None:
    """The newest message the firm wrote to the client (not a note, a private or automatic message)."""
    row = (
        await conn.execute(
            select(Message.id, Message.body, Message.html, User.name, Thread.subject, Firm.name.label("firm_name"))
            .join(User, User.id == Message.author_id)
            .join(Thread, Thread.id == Message.thread_id)
            .join(Firm, Firm.id == Thread.firm_id)
            .where(
                Message.thread_id == thread_id,
                Message.kind == MessageKind.MESSAGE.value,
                Message.private_to.is_(None),
                Message.automatic.is_(None),
                Message.deleted_at.is_(None),
                User.role != Role.CLIENT.value,
            )
            .order_by(Message.id.desc())
            .limit(1)
        )
    ).first()
    if row is None:
        return None
    return StaffMessage(
        id=row.id,
        body=row.body,
        html=row.html,
        author_name=row.name,
        thread_subject=row.subject,
        firm_name=row.firm_name,
    )


async def client_answered(conn: AsyncConnection, thread_id: int, after_message_id: int) -> bool:
    """Whether a client wrote in the thread after that message."""
    query = select(
        exists().where(
            Message.thread_id == thread_id,
            Message.id > after_message_id,
            Message.kind == MessageKind.MESSAGE.value,
            Message.author_id == User.id,
            User.role == Role.CLIENT.value,
        )
    )
    return bool(await conn.scalar(query))
