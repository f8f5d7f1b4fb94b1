"""Verbs for messages."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import msgspec
from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from protocol.values import Attachment, Embed, MessageKind, format_time
from protocol.values import Message as MessageValue
from storage.attachments import decode_list, encode_list
from storage.errors import Duplicate, NotFound
from storage.models import Firm, Message, MessageAck, Thread
from storage.prepared import Prepared
from storage.rows import AnyRow
from storage.viewer import Viewer, message_visible, thread_visible

COLUMNS = (
    Message.id,
    Message.thread_id,
    Message.author_id,
    Message.kind,
    Message.body,
    Message.html,
    Message.embeds,
    Message.attachments,
    Message.client_msg_id,
    Message.created_at,
    Message.edited_at,
    Message.deleted_at,
    Message.urgent,
    Message.ack_requested,
    Message.private_to,
    Message.cc,
    Message.automatic,
)


@dataclass(frozen=True, slots=True)
class StoredMessage:
    """A message with what only its author's sessions see kept apart."""

    value: MessageValue
    client_msg_id: str | None

    def for_author(self) -> MessageValue:
        if self.client_msg_id is None:
            return self.value
        return msgspec.structs.replace(self.value, client_msg_id=self.client_msg_id)


@dataclass(frozen=True, slots=True)
class Body:
    """A body as written (Markdown) and as the server rendered it."""

    source: str
    html: str
    embeds: list[Embed]
    # Users the body @mentions (chatd/richtext.py), in order of appearance.
    mentions: tuple[int, ...] = ()


_embeds_decoder = msgspec.json.Decoder(list[Embed])


def _encode_embeds(embeds: list[Embed]) -> str | None:
    return msgspec.json.encode(embeds).decode() if embeds else None


@dataclass(frozen=True, slots=True)
class MessageOptions:
    """What a sender may set beyond the body: urgency, acknowledgement, privacy, copies."""

    urgent: bool = False
    ack_requested: bool = False
    renotify_at: datetime | None = None
    private_to: int | None = None
    cc: tuple[int, ...] = ()
    automatic: str | None = None

    def columns(self) -> dict[str, object]:
        return {
            "automatic": self.automatic,
            "urgent": self.urgent,
            "ack_requested": self.ack_requested,
            "renotify_at": self.renotify_at,
            "private_to": self.private_to,
            "cc": list(self.cc) or None,
        }


def stored_message(row: AnyRow) -> StoredMessage:
    deleted = row.deleted_at is not None
    return StoredMessage(
        value=MessageValue(
            id=row.id,
            thread_id=row.thread_id,
            author_id=row.author_id,
            kind=MessageKind(row.kind),
            body="" if deleted else row.body,
            html="" if deleted else row.html,
            embeds=_embeds_decoder.decode(row.embeds) if row.embeds and not deleted else [],
            attachments=[] if deleted else decode_list(row.attachments),
            created_at=format_time(row.created_at),
            edited_at=None if row.edited_at is None else format_time(row.edited_at),
            deleted_at=None if row.deleted_at is None else format_time(row.deleted_at),
            urgent=bool(row.urgent),
            ack_requested=bool(row.ack_requested),
            private_to=row.private_to,
            cc=list(row.cc or ()),
            automatic=msgspec.UNSET if row.automatic is None else row.automatic,
        ),
        client_msg_id=row.client_msg_id,
    )


async def insert_message(
    conn: AsyncConnection,
    *,
    thread_id: int,
    author_id: int,
    kind: MessageKind,
    body: Body,
    client_msg_id: str,
    now: datetime,
    attachments: list[Attachment] | None = None,
    options: MessageOptions | None = None,
) -> StoredMessage:
    values = {
        "thread_id": thread_id,
        "author_id": author_id,
        "kind": kind.value,
        "body": body.source,
        "html": body.html,
        "embeds": _encode_embeds(body.embeds),
        "attachments": encode_list(attachments or []),
        "client_msg_id": client_msg_id,
        "created_at": now,
        **(options or _NO_OPTIONS).columns(),
    }
    # A concurrent duplicate (PostgreSQL; SQLite has one writer) fails the whole transaction: the
    # caller gives up on it, so no savepoint is needed to carry on after the error.
    try:
        (row,) = await _INSERT.rows(conn, values)
    except IntegrityError as exc:
        raise Duplicate(f"client_msg_id {client_msg_id!r}") from exc
    return stored_message(row)


_NO_OPTIONS = MessageOptions()
# Built once (every send runs them): building a statement costs more CPU than running it.
_INSERT = Prepared(
    insert(Message)
    .values(
        {
            column: bindparam(column)
            for column in (
                "thread_id",
                "author_id",
                "kind",
                "body",
                "html",
                "embeds",
                "attachments",
                "client_msg_id",
                "created_at",
                *_NO_OPTIONS.columns(),
            )
        }
    )
    .returning(*COLUMNS)
)
_BY_CLIENT_MSG_ID = Prepared(
    select(*COLUMNS).where(
        Message.author_id == bindparam("author_id"), Message.client_msg_id == bindparam("client_msg_id")
    )
)


async def find_by_client_msg_id(conn: AsyncConnection, author_id: int, client_msg_id: str) -> StoredMessage | None:
    rows = await _BY_CLIENT_MSG_ID.rows(conn, {"author_id": author_id, "client_msg_id": client_msg_id})
    return stored_message(rows[0]) if rows else None


async def visible_message(conn: AsyncConnection, viewer: Viewer, message_id: int) -> StoredMessage:
    """A message the viewer may see, or NotFound."""
    row = (
        await conn.execute(
            select(*COLUMNS)
            .join(Thread, Thread.id == Message.thread_id)
            .where(Message.id == message_id, thread_visible(viewer), message_visible(viewer))
        )
    ).one_or_none()
    if row is None:
        raise NotFound(f"message {message_id}")
    return stored_message(row)


async def update_body(conn: AsyncConnection, message_id: int, body: Body, now: datetime) -> StoredMessage:
    row = (
        await conn.execute(
            update(Message)
            .where(Message.id == message_id, Message.deleted_at.is_(None))
            .values(body=body.source, html=body.html, embeds=_encode_embeds(body.embeds), edited_at=now)
            .returning(*COLUMNS)
        )
    ).one_or_none()
    if row is None:
        raise NotFound(f"message {message_id}")
    return stored_message(row)


async def mark_deleted(conn: AsyncConnection, message_id: int, now: datetime) -> StoredMessage:
    """Keep a tombstone (id, author, times) and drop the body."""
    row = (
        await conn.execute(
            update(Message)
            .where(Message.id == message_id, Message.deleted_at.is_(None))
            .values(body="", html="", embeds=None, deleted_at=now)
            .returning(*COLUMNS)
        )
    ).one_or_none()
    if row is None:
        raise NotFound(f"message {message_id}")
    return stored_message(row)


async def history(
    conn: AsyncConnection, viewer: Viewer, thread_id: int, *, before: int | None, after: int | None, limit: int
) -> tuple[list[StoredMessage], bool]:
    """A page of the thread in id order, and whether more lie beyond it in the paging direction."""
    query = select(*COLUMNS).where(Message.thread_id == thread_id, message_visible(viewer))
    if after is not None:
        query = query.where(Message.id > after).order_by(Message.id.asc())
    else:
        if before is not None:
            query = query.where(Message.id < before)
        query = query.order_by(Message.id.desc())
    rows = list(await conn.execute(query.limit(limit + 1)))
    has_more = len(rows) > limit
    page = [stored_message(row) for row in rows[:limit]]
    if after is None:
        page.reverse()
    return page, has_more


async def messages_by_ids(conn: AsyncConnection, message_ids: list[int]) -> dict[int, StoredMessage]:
    rows = await conn.execute(select(*COLUMNS).where(Message.id.in_(message_ids)))
    return {row.id: stored_message(row) for row in rows}


async def newest_visible_id_at_or_before(conn: AsyncConnection, thread_id: int, message_id: int) -> int:
    """The newest message a client may see in the thread at or before ``message_id`` (0 if none)."""
    found = await conn.scalar(
        select(Message.id)
        .where(
            Message.thread_id == thread_id,
            Message.id <= message_id,
            Message.kind == MessageKind.MESSAGE.value,
            Message.private_to.is_(None),
        )
        .order_by(Message.id.desc())
        .limit(1)
    )
    return 0 if found is None else int(found)


async def first_message_id(conn: AsyncConnection, thread_id: int) -> int | None:
    found = await conn.scalar(select(func.min(Message.id)).where(Message.thread_id == thread_id))
    return None if found is None else int(found)


async def visible_messages(conn: AsyncConnection, viewer: Viewer, message_ids: list[int]) -> list[StoredMessage]:
    """Those of ``message_ids`` the viewer may see (thread list previews); others are left out."""
    rows = await conn.execute(
        select(*COLUMNS)
        .join(Thread, Thread.id == Message.thread_id)
        .where(Message.id.in_(message_ids), thread_visible(viewer), message_visible(viewer))
        .order_by(Message.id)
    )
    return [stored_message(row) for row in rows]


async def acknowledge(conn: AsyncConnection, message_id: int, user_id: int, now: datetime) -> bool:
    """Record that the user acknowledged the message; False when they already had."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    result = await conn.execute(
        dialect.insert(MessageAck).values(message_id=message_id, user_id=user_id, acked_at=now).on_conflict_do_nothing()
    )
    return bool(result.rowcount)


async def acks_of(conn: AsyncConnection, message_id: int) -> list[dict[str, object]]:
    rows = await conn.execute(
        select(MessageAck.user_id, MessageAck.acked_at)
        .where(MessageAck.message_id == message_id)
        .order_by(MessageAck.acked_at, MessageAck.user_id)
    )
    return [{"user_id": row.user_id, "at": format_time(row.acked_at)} for row in rows]


async def stop_renotifying(conn: AsyncConnection, message_id: int) -> None:
    await conn.execute(update(Message).where(Message.id == message_id).values(renotify_at=None))


async def any_renotification_due(conn: AsyncConnection, now: datetime) -> bool:
    """Whether an urgent message is due to be asked again: a read, so an idle tick takes no write lock."""
    due = select(Message.id).where(Message.renotify_at <= now, Message.deleted_at.is_(None))
    return await conn.scalar(due.limit(1)) is not None


async def claim_due_renotifications(conn: AsyncConnection, now: datetime, limit: int = 500) -> list[StoredMessage]:
    """Urgent messages whose recipients are due to be asked again; each moved to its next time,
    in this transaction, so another process running the same claim finds nothing to do."""
    rows = list(
        await conn.execute(
            select(*COLUMNS, Firm.urgent_renotify_minutes)
            .join(Thread, Thread.id == Message.thread_id)
            .join(Firm, Firm.id == Thread.firm_id)
            .where(Message.renotify_at <= now, Message.deleted_at.is_(None))
            .order_by(Message.renotify_at)
            .limit(limit)
        )
    )
    claimed: list[StoredMessage] = []
    for row in rows:
        result = await conn.execute(
            update(Message)
            .where(Message.id == row.id, Message.renotify_at <= now)
            .values(renotify_at=now + timedelta(minutes=row.urgent_renotify_minutes))
        )
        if result.rowcount:
            claimed.append(stored_message(row))
    return claimed


async def remarks(conn: AsyncConnection, viewer: Viewer, *, before: int | None, limit: int) -> list[StoredMessage]:
    """Clients' remarks about the service the viewer may see, newest first."""
    query = (
        select(*COLUMNS)
        .join(Thread, Thread.id == Message.thread_id)
        .where(
            Message.kind == MessageKind.REMARK.value,
            Message.deleted_at.is_(None),
            thread_visible(viewer),
            message_visible(viewer),
        )
    )
    if before is not None:
        query = query.where(Message.id < before)
    rows = await conn.execute(query.order_by(Message.id.desc()).limit(limit))
    return [stored_message(row) for row in rows]


async def newest_visible_id(conn: AsyncConnection, viewer: Viewer, thread_id: int, *, not_by: int | None = None) -> int:
    """The newest message of the thread the viewer may see (written by someone other than
    ``not_by`` when given), or 0."""
    query = select(func.max(Message.id)).where(
        Message.thread_id == thread_id, Message.deleted_at.is_(None), message_visible(viewer)
    )
    if not_by is not None:
        query = query.where(Message.author_id != not_by)
    found = await conn.scalar(query)
    return 0 if found is None else int(found)
