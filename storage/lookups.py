"""Who a user may put a name to, and how far each participant has read a thread."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.orm import aliased

from storage.models import ClientAccount, Event, Message, Participant, Thread, User
from storage.threads import visible_thread_facts
from storage.viewer import Viewer, message_visible, thread_visible


@dataclass(frozen=True, slots=True)
class Person:
    id: int
    name: str
    role: str
    client_account_id: int | None


@dataclass(frozen=True, slots=True)
class Account:
    id: int
    name: str


@dataclass(frozen=True, slots=True)
class Reader:
    user_id: int
    message_id: int
    # When the marker last moved; None once that event has been pruned.
    read_at: datetime | None


async def people(conn: AsyncConnection, viewer: Viewer) -> tuple[list[Person], list[Account]]:
    """Staff see their whole firm; a client sees their own account and who takes part in its threads."""
    users = select(User.id, User.name, User.role, User.client_account_id).where(User.firm_id == viewer.firm_id)
    accounts = select(ClientAccount.id, ClientAccount.name).where(ClientAccount.firm_id == viewer.firm_id)
    if viewer.is_client:
        member = aliased(Participant)
        in_threads = select(member.user_id).join(Thread, Thread.id == member.thread_id).where(thread_visible(viewer))
        account = viewer.client_account_id
        own = User.client_account_id == account if account else User.id == viewer.user_id
        users = users.where(own | User.id.in_(in_threads))
        accounts = accounts.where(ClientAccount.id == viewer.client_account_id)
    else:
        users = users.where(User.active.is_(True))
    found = [Person(r.id, r.name, r.role, r.client_account_id) for r in await conn.execute(users.order_by(User.name))]
    named = [Account(r.id, r.name) for r in await conn.execute(accounts.order_by(ClientAccount.name))]
    return found, named


async def readers(conn: AsyncConnection, viewer: Viewer, thread_id: int) -> list[Reader]:
    """Each participant's read marker in a visible thread, as the viewer may see it (NotFound if not)."""
    await visible_thread_facts(conn, viewer, thread_id)
    read_at = (
        select(func.max(Event.created_at))
        .where(Event.type == "read", Event.thread_id == thread_id, Event.user_id == Participant.user_id)
        .scalar_subquery()
    )
    marker: ColumnElement[int] = Participant.__table__.c.last_read_message_id
    if viewer.is_client:
        # Clients see a marker as the newest message they may see at or before it.
        marker = (
            select(func.max(Message.id))
            .where(
                Message.thread_id == thread_id,
                Message.id <= Participant.last_read_message_id,
                message_visible(viewer),
            )
            .scalar_subquery()
        )
    # Sending moves the author's marker without a read event: their newest message counts too.
    wrote_at = (
        select(func.max(Message.created_at))
        .where(Message.thread_id == thread_id, Message.author_id == Participant.user_id, message_visible(viewer))
        .scalar_subquery()
    )
    rows = await conn.execute(
        select(
            Participant.user_id, marker.label("message_id"), read_at.label("read_at"), wrote_at.label("wrote_at")
        ).where(Participant.thread_id == thread_id)
    )
    return [
        Reader(row.user_id, int(row.message_id), max((t for t in (row.read_at, row.wrote_at) if t), default=None))
        for row in rows
        if row.message_id
    ]
