"""Verbs for threads and their participants."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import msgspec
from sqlalchemy import bindparam, case, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from protocol.values import Folder, Source, format_time
from protocol.values import Thread as ThreadValue
from storage.automation_models import BusinessHours
from storage.errors import NotFound
from storage.folders import folder_filter, unread_count
from storage.models import Firm, Participant, Thread, ThreadLabel
from storage.prepared import Prepared
from storage.reminder_models import ReplyReminder
from storage.rows import AnyRow
from storage.viewer import Viewer, thread_visible, thread_visible_bound, visibility_kind, visibility_params

_COLUMNS = (
    Thread.id,
    Thread.subject,
    Thread.client_account_id,
    Thread.created_at,
    Thread.last_message_id,
    Thread.last_activity_at,
)
# What staff also see: the inbox's shared state.
_STAFF_COLUMNS = (
    *_COLUMNS,
    Thread.source,
    Thread.state,
    Thread.assignee_id,
    Thread.urgent,
    Thread.follow_up_at,
    Thread.snoozed,
    Thread.follow_up_due,
)
# What clients see of a thread's activity: notes left out.
_CLIENT_COLUMNS = (
    *_COLUMNS[:4],
    Thread.client_last_message_id.label("last_message_id"),
    Thread.client_last_activity_at.label("last_activity_at"),
)


def _columns(viewer: Viewer) -> tuple[Any, ...]:
    return _CLIENT_COLUMNS if viewer.is_client else _STAFF_COLUMNS


@dataclass(frozen=True, slots=True)
class ThreadFacts:
    """What the server needs to decide who may see a thread and its events."""

    id: int
    firm_id: int
    client_account_id: int | None
    participant_ids: tuple[int, ...]
    # The firm shares every thread with its owners, managers and staff.
    firm_shares_threads: bool
    assignee_id: int | None = None
    state: str = "inbox"
    snoozed: bool = False
    # Whether clients see staff read receipts.
    receipts_to_clients: bool = True
    # What a new message may set off, read here so a send without them costs no more statements:
    # the firm has an automatic reply for when it is closed; the thread has reply reminders on.
    auto_reply: bool = False
    reminders: bool = False

    @property
    def member_ids(self) -> tuple[int, ...]:
        """Who sees the thread whatever the firm's sharing: participants and the assignee."""
        if self.assignee_id is None or self.assignee_id in self.participant_ids:
            return self.participant_ids
        return (*self.participant_ids, self.assignee_id)


async def create_thread(
    conn: AsyncConnection,
    *,
    firm_id: int,
    client_account_id: int | None,
    subject: str,
    created_by: int,
    now: datetime,
    source: Source = Source.PORTAL,
) -> int:
    result = await conn.execute(
        insert(Thread)
        .values(
            source=source.value,
            firm_id=firm_id,
            client_account_id=client_account_id,
            subject=subject,
            created_by=created_by,
            created_at=now,
            last_activity_at=now,
            client_last_activity_at=now,
        )
        .returning(Thread.id)
    )
    return int(result.scalar_one())


async def add_participants(conn: AsyncConnection, thread_id: int, user_ids: list[int], now: datetime) -> None:
    """Add users to a thread; those already in it are left as they are."""
    if not user_ids:
        return
    rows = [
        {"thread_id": thread_id, "user_id": uid, "last_read_message_id": 0, "notify": True, "joined_at": now}
        for uid in user_ids
    ]
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    await conn.execute(dialect.insert(Participant).values(rows).on_conflict_do_nothing())


async def visible_thread_facts(conn: AsyncConnection, viewer: Viewer, thread_id: int) -> ThreadFacts:
    """The thread's audience facts, or NotFound when it does not exist or the viewer may not see it."""
    # Every send starts here: the statement is built once per kind of viewer, its values bound.
    rows = await _visible_facts_statement(visibility_kind(viewer)).rows(
        conn, {"thread_id": thread_id, **visibility_params(viewer)}
    )
    if not rows:
        raise NotFound(f"thread {thread_id}")
    members = [user_id for (user_id,) in await _MEMBERS_OF.rows(conn, {"thread_id": thread_id})]
    return _thread_facts(rows[0], members)


async def facts_by_ids(conn: AsyncConnection, thread_ids: list[int]) -> dict[int, ThreadFacts]:
    rows = list(
        await conn.execute(
            _FACTS.where(Thread.id.in_(bindparam("thread_ids", expanding=True))), {"thread_ids": thread_ids}
        )
    )
    members: dict[int, list[int]] = {row.id: [] for row in rows}
    if members:
        for thread_id, user_id in await conn.execute(_MEMBERS, {"thread_ids": list(members)}):
            members[thread_id].append(user_id)
    return {row.id: _thread_facts(row, members[row.id]) for row in rows}


_FACTS = (
    select(
        Thread.id,
        Thread.firm_id,
        Thread.client_account_id,
        Thread.assignee_id,
        Thread.state,
        Thread.snoozed,
        Firm.staff_see_all_threads,
        Firm.read_receipts_to_clients,
        BusinessHours.auto_reply.is_not(None).label("auto_reply"),
        ReplyReminder.enabled.label("reminders"),
    )
    .join(Firm, Firm.id == Thread.firm_id)
    .outerjoin(BusinessHours, BusinessHours.firm_id == Thread.firm_id)
    .outerjoin(ReplyReminder, ReplyReminder.thread_id == Thread.id)
)
_MEMBERS = select(Participant.thread_id, Participant.user_id).where(
    Participant.thread_id.in_(bindparam("thread_ids", expanding=True))
)
_MEMBERS_OF = Prepared(select(Participant.user_id).where(Participant.thread_id == bindparam("thread_id")))


@functools.cache
def _visible_facts_statement(kind: str) -> Prepared:
    return Prepared(_FACTS.where(Thread.id == bindparam("thread_id"), thread_visible_bound(kind)))


def _thread_facts(row: AnyRow, members: list[int]) -> ThreadFacts:
    return ThreadFacts(
        id=row.id,
        firm_id=row.firm_id,
        client_account_id=row.client_account_id,
        participant_ids=tuple(members),
        firm_shares_threads=bool(row.staff_see_all_threads),
        assignee_id=row.assignee_id,
        state=row.state,
        snoozed=bool(row.snoozed),
        receipts_to_clients=bool(row.read_receipts_to_clients),
        auto_reply=bool(row.auto_reply),
        reminders=bool(row.reminders),
    )


async def lock_for_new_message(conn: AsyncConnection, thread_id: int) -> None:
    """Hold the thread until commit, so its message ids commit in the order they are handed out
    (clients page history by id). SQLite's single writer already gives that."""
    if conn.dialect.name == "postgresql":
        await conn.execute(select(Thread.id).where(Thread.id == thread_id).with_for_update())


async def touch_thread(
    conn: AsyncConnection, thread_id: int, message_id: int, now: datetime, *, seen_by_clients: bool
) -> None:
    statement = _TOUCH_SEEN_BY_CLIENTS if seen_by_clients else _TOUCH
    await statement.rows(conn, {"thread_id": thread_id, "message_id": message_id, "now": now})


# Built once (every send runs them): building a statement costs more CPU than running it.
_TOUCH_VALUES = (
    update(Thread)
    .where(Thread.id == bindparam("thread_id"))
    .values(last_message_id=bindparam("message_id"), last_activity_at=bindparam("now"))
)
_TOUCH = Prepared(_TOUCH_VALUES)
_TOUCH_SEEN_BY_CLIENTS = Prepared(
    _TOUCH_VALUES.values(client_last_message_id=bindparam("message_id"), client_last_activity_at=bindparam("now"))
)


async def mark_read(conn: AsyncConnection, thread_id: int, user_id: int, message_id: int, now: datetime) -> int | None:
    """Move the user's read marker forward to ``message_id``. Returns where it was before, or None
    when it was already there or past."""
    await add_participants(conn, thread_id, [user_id], now)
    previous = await conn.scalar(
        select(Participant.last_read_message_id).where(
            Participant.thread_id == thread_id, Participant.user_id == user_id
        )
    )
    if previous is None or previous >= message_id:
        return None
    await conn.execute(
        update(Participant)
        .where(Participant.thread_id == thread_id, Participant.user_id == user_id)
        .values(last_read_message_id=message_id)
    )
    return int(previous)


async def set_read_marker(conn: AsyncConnection, thread_id: int, user_id: int, message_id: int, now: datetime) -> None:
    """Put the user's read marker at ``message_id``, backwards too (mark as unread)."""
    await add_participants(conn, thread_id, [user_id], now)
    await conn.execute(
        update(Participant)
        .where(Participant.thread_id == thread_id, Participant.user_id == user_id)
        .values(last_read_message_id=message_id)
    )


async def advance_read_marker(
    conn: AsyncConnection, thread_id: int, user_id: int, message_id: int, now: datetime
) -> None:
    """Join the user to the thread if needed and move their read marker up to ``message_id``, in
    one statement (the hot path of every send: authors have read what they write)."""
    await _advance_read_marker(conn.dialect.name).rows(
        conn, {"thread_id": thread_id, "user_id": user_id, "message_id": message_id, "now": now}
    )


@functools.cache
def _advance_read_marker(dialect_name: str) -> Prepared:
    dialect = postgresql if dialect_name == "postgresql" else sqlite
    statement = dialect.insert(Participant).values(
        thread_id=bindparam("thread_id"),
        user_id=bindparam("user_id"),
        last_read_message_id=bindparam("message_id"),
        notify=True,
        joined_at=bindparam("now"),
    )
    newer = statement.excluded.last_read_message_id
    return Prepared(
        statement.on_conflict_do_update(
            index_elements=[Participant.thread_id, Participant.user_id],
            set_={
                "last_read_message_id": case(
                    (Participant.last_read_message_id < newer, newer), else_=Participant.last_read_message_id
                )
            },
        )
    )


def _value(row: AnyRow, labels: dict[int, list[str]] | None) -> ThreadValue:
    """A thread as the wire shows it; with ``labels`` given (staff rows), with the inbox state."""
    value = ThreadValue(
        id=row.id,
        subject=row.subject,
        client_account_id=row.client_account_id,
        created_at=format_time(row.created_at),
        last_message_id=row.last_message_id,
        last_activity_at=format_time(row.last_activity_at),
        unread=row.unread if "unread" in row._fields else msgspec.UNSET,
    )
    if labels is None:
        return value
    value.source = row.source
    value.state = row.state
    value.assignee_id = row.assignee_id
    value.urgent = bool(row.urgent)
    value.follow_up_at = None if row.follow_up_at is None else format_time(row.follow_up_at)
    value.snoozed = bool(row.snoozed)
    value.follow_up_due = bool(row.follow_up_due)
    value.labels = labels.get(row.id, [])
    return value


async def _values(conn: AsyncConnection, rows: list[AnyRow], staff: bool) -> list[ThreadValue]:
    labels = await labels_of(conn, [row.id for row in rows]) if staff else None
    return [_value(row, labels) for row in rows]


async def labels_of(conn: AsyncConnection, thread_ids: list[int]) -> dict[int, list[str]]:
    found: dict[int, list[str]] = {}
    if thread_ids:
        rows = await conn.execute(
            select(ThreadLabel.thread_id, ThreadLabel.label)
            .where(ThreadLabel.thread_id.in_(thread_ids))
            .order_by(ThreadLabel.label)
        )
        for thread_id, label in rows:
            found.setdefault(thread_id, []).append(label)
    return found


async def list_threads(
    conn: AsyncConnection,
    viewer: Viewer,
    *,
    before_message_id: int | None,
    limit: int,
    folder: Folder = Folder.ALL,
    source: Source | None = None,
    label: str | None = None,
    client_account_id: int | None = None,
) -> list[ThreadValue]:
    """Visible threads, most recent activity first. Message ids grow, so the newest message's id
    orders threads by activity without ties; ``before_message_id`` continues after a page.
    Folders, sources and labels are staff filters."""
    newest = Thread.client_last_message_id if viewer.is_client else Thread.last_message_id
    query = select(*_columns(viewer), unread_count(viewer).label("unread")).where(thread_visible(viewer))
    in_folder = folder_filter(viewer, folder)
    if in_folder is not None:
        query = query.where(in_folder)
    if source is not None:
        query = query.where(Thread.source == source.value)
    if label is not None:
        query = query.where(Thread.id.in_(select(ThreadLabel.thread_id).where(ThreadLabel.label == label)))
    if client_account_id is not None:
        query = query.where(Thread.client_account_id == client_account_id)
    if before_message_id is not None:
        query = query.where(newest < before_message_id)
    rows = list(await conn.execute(query.order_by(newest.desc()).limit(limit)))
    return await _values(conn, rows, not viewer.is_client)


async def get_threads(conn: AsyncConnection, viewer: Viewer, thread_ids: list[int]) -> dict[int, ThreadValue]:
    rows = list(
        await conn.execute(
            select(*_columns(viewer), unread_count(viewer).label("unread")).where(
                Thread.id.in_(thread_ids), thread_visible(viewer)
            )
        )
    )
    return {value.id: value for value in await _values(conn, rows, not viewer.is_client)}


async def threads_by_ids(conn: AsyncConnection, thread_ids: list[int]) -> dict[int, ThreadValue]:
    """Threads as staff see them now, without anyone's ``unread``."""
    rows = list(await conn.execute(select(*_STAFF_COLUMNS).where(Thread.id.in_(thread_ids))))
    return {value.id: value for value in await _values(conn, rows, True)}
