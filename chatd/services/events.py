"""Turning stored facts into bus events: one place, used live, for resume and for gap filling."""

from __future__ import annotations

from typing import Any

import msgspec
from sqlalchemy.ext.asyncio import AsyncConnection

from chatd.bus import Audience, BusEvent
from chatd.coalesce import Batched
from chatd.services import business_hours
from protocol.values import Message as MessageValue
from protocol.values import MessageKind, Notification, ScheduledMessage, User
from protocol.values import Task as TaskValue
from protocol.values import Thread as ThreadValue
from storage import Database
from storage import events as event_store
from storage import messages as message_store
from storage import notifications as notification_store
from storage import recurring as recurring_store
from storage import scheduled as scheduled_store
from storage import tasks as task_store
from storage import threads as thread_store
from storage.events import EventRecord
from storage.messages import StoredMessage
from storage.threads import ThreadFacts


def audience(facts: ThreadFacts, *, staff_only: bool = False, exclude_user_id: int | None = None) -> Audience:
    return Audience(
        firm_id=facts.firm_id,
        all_staff=facts.firm_shares_threads,
        client_account_id=facts.client_account_id,
        user_ids=facts.member_ids,
        staff_only=staff_only,
        exclude_user_id=exclude_user_id,
    )


def message_audience(facts: ThreadFacts, message: MessageValue) -> Audience:
    """Who may see a message: the thread's audience, narrowed for notes, remarks and private messages."""
    if message.private_to is not None:
        return Audience(
            firm_id=facts.firm_id,
            all_staff=False,
            client_account_id=None,
            user_ids=(message.author_id, message.private_to),
        )
    if message.kind is MessageKind.REMARK:
        return msgspec.structs.replace(audience(facts), managers_only=True, author_id=message.author_id)
    return audience(facts, staff_only=message.kind is MessageKind.NOTE)


def personal(firm_id: int, user_id: int) -> Audience:
    """Only this user's sessions."""
    return Audience(firm_id=firm_id, all_staff=False, client_account_id=None, user_ids=(user_id,))


def _builtins(value: msgspec.Struct) -> dict[str, Any]:
    result: dict[str, Any] = msgspec.to_builtins(value)
    return result


def message_event(record: EventRecord, facts: ThreadFacts, message: StoredMessage) -> BusEvent:
    return BusEvent(
        type=record.type,
        event_id=record.id,
        audience=message_audience(facts, message.value),
        data={"message": _builtins(message.value)},
        own_user_id=message.value.author_id,
        own_data={"message": _builtins(message.for_author())},
    )


def read_event(record: EventRecord, facts: ThreadFacts) -> BusEvent:
    data = {"thread_id": record.thread_id, "user_id": record.user_id, "message_id": record.ref_id}
    return BusEvent(
        type=record.type,
        event_id=record.id,
        audience=audience(facts, staff_only=record.staff_only),
        data=data,
        client_data={**data, "message_id": record.client_ref_id},
    )


def thread_event(record: EventRecord, facts: ThreadFacts, thread: ThreadValue, creator_id: int) -> BusEvent:
    # A new thread has one unread message, except for the one who wrote it.
    return BusEvent(
        type=record.type,
        event_id=record.id,
        audience=audience(facts),
        data={"thread": _builtins(msgspec.structs.replace(thread, unread=1))},
        own_user_id=creator_id,
        own_data={"thread": _builtins(msgspec.structs.replace(thread, unread=0))},
    )


def scheduled_event(record: EventRecord, facts: ThreadFacts | None, scheduled: ScheduledMessage) -> BusEvent:
    """Staff who see the thread, and the author, learn of every change; clients never do. Without a
    thread (it was deleted before the send), only the author."""
    if facts is None:
        audience = Audience(
            firm_id=record.firm_id, all_staff=False, client_account_id=None, user_ids=(scheduled.author_id,)
        )
    else:
        audience = Audience(
            firm_id=facts.firm_id,
            all_staff=facts.firm_shares_threads,
            client_account_id=None,
            user_ids=(*facts.participant_ids, scheduled.author_id),
            staff_only=True,
        )
    return BusEvent(type=record.type, event_id=record.id, audience=audience, data={"scheduled": _builtins(scheduled)})


def recurring_event(record: EventRecord, facts: ThreadFacts | None, recurring: dict[str, Any]) -> BusEvent:
    """As for scheduled messages: staff who see the thread, and the author (``recurring.author_id``)."""
    author_id = int(recurring["author_id"])
    if facts is None:
        audience = Audience(firm_id=record.firm_id, all_staff=False, client_account_id=None, user_ids=(author_id,))
    else:
        audience = Audience(
            firm_id=facts.firm_id,
            all_staff=facts.firm_shares_threads,
            client_account_id=None,
            user_ids=(*facts.participant_ids, author_id),
            staff_only=True,
        )
    return BusEvent(type=record.type, event_id=record.id, audience=audience, data={"recurring": recurring})


def notification_event(record: EventRecord, user_id: int, notification: Notification) -> BusEvent:
    """A user's own: delivered to that user's sessions only."""
    return BusEvent(
        type=record.type,
        event_id=record.id,
        audience=Audience(firm_id=record.firm_id, all_staff=False, client_account_id=None, user_ids=(user_id,)),
        data={"notification": _builtins(notification)},
    )


def mention_event(record: EventRecord, message: StoredMessage) -> BusEvent:
    """To the mentioned teammate only (``user_id``), with the message that mentions them."""
    assert record.user_id is not None
    return BusEvent(
        type=record.type,
        event_id=record.id,
        audience=personal(record.firm_id, record.user_id),
        data={"message": _builtins(message.value), "author_id": record.ref_id},
    )


def presence_event(user: User, *, online: bool) -> BusEvent:
    """Ephemeral: to the staff of the user's firm who see all its threads, never to clients (a
    client does not learn who else is connected)."""
    return BusEvent(
        type="presence",
        event_id=None,
        audience=Audience(
            firm_id=user.firm_id,
            all_staff=True,
            client_account_id=None,
            user_ids=(),
            staff_only=True,
            exclude_user_id=user.id,
        ),
        data={"user_id": user.id, "status": "online" if online else "offline"},
    )


def thread_updated_event(record: EventRecord, facts: ThreadFacts, thread: ThreadValue) -> BusEvent:
    """The inbox state changed: every staff member who sees the thread gets the same shape."""
    return BusEvent(
        type=record.type,
        event_id=record.id,
        audience=audience(facts, staff_only=True),
        data={"thread": _builtins(msgspec.structs.replace(thread, unread=msgspec.UNSET))},
    )


def thread_unread_event(record: EventRecord) -> BusEvent:
    """One user's own unread count changed (marked unread)."""
    assert record.user_id is not None
    return BusEvent(
        type=record.type,
        event_id=record.id,
        audience=personal(record.firm_id, record.user_id),
        data={"thread_id": record.thread_id, "unread": record.ref_id},
    )


def thread_deleted_event(record: EventRecord) -> BusEvent:
    """Deleted for good: its staff and its client account drop it (the thread row is gone)."""
    return BusEvent(
        type=record.type,
        event_id=record.id,
        audience=Audience(firm_id=record.firm_id, all_staff=True, client_account_id=record.client_ref_id, user_ids=()),
        data={"thread_id": record.ref_id},
    )


def acked_event(record: EventRecord, facts: ThreadFacts, message: StoredMessage, at: str) -> BusEvent:
    return BusEvent(
        type=record.type,
        event_id=record.id,
        audience=message_audience(facts, message.value),
        data={"thread_id": record.thread_id, "message_id": record.message_id, "user_id": record.user_id, "at": at},
    )


def task_event(record: EventRecord, facts: ThreadFacts, task: TaskValue, message: StoredMessage) -> BusEvent:
    return BusEvent(
        type=record.type,
        event_id=record.id,
        audience=message_audience(facts, message.value),
        data={"task": _builtins(task)},
    )


async def render(conn: AsyncConnection, records: list[EventRecord]) -> list[BusEvent]:
    """Bus events for stored records, from the rows as they are now (a deleted body stays deleted)."""
    thread_ids = list({r.thread_id for r in records if r.thread_id is not None})
    message_ids = [r.message_id for r in records if r.message_id is not None]
    facts = await thread_store.facts_by_ids(conn, thread_ids)
    messages = await message_store.messages_by_ids(conn, message_ids) if message_ids else {}
    needs_threads = any(r.type in ("thread.created", "thread.updated") for r in records)
    threads = await thread_store.threads_by_ids(conn, thread_ids) if needs_threads else {}
    scheduled_ids = [r.ref_id for r in records if r.type == "scheduled.updated" and r.ref_id is not None]
    scheduled = await scheduled_store.scheduled_by_ids(conn, scheduled_ids) if scheduled_ids else {}
    recurring_ids = [r.ref_id for r in records if r.type == "recurring.updated" and r.ref_id is not None]
    recurring = await recurring_store.recurring_by_ids(conn, recurring_ids) if recurring_ids else {}
    zones = {f: (await business_hours.firm_zone(conn, f)).key for f in {r.firm_id for r in recurring.values()}}
    notification_ids = [r.ref_id for r in records if r.type == "notification" and r.ref_id is not None]
    notifications = await notification_store.notifications_by_ids(conn, notification_ids) if notification_ids else {}
    rendered: list[BusEvent] = []
    for record in records:
        if record.type == "thread.deleted":
            rendered.append(thread_deleted_event(record))
            continue
        thread_facts = facts.get(record.thread_id) if record.thread_id is not None else None
        if thread_facts is None:
            continue  # the thread was deleted since
        if record.type == "notification":
            if record.ref_id in notifications:
                found = notifications[record.ref_id]
                rendered.append(notification_event(record, found.user_id, found.value))
            continue
        if record.type == "recurring.updated":
            if (found_recurring := recurring.get(record.ref_id or 0)) is not None:
                shown = recurring_store.describe(found_recurring, zones[found_recurring.firm_id])
                rendered.append(recurring_event(record, thread_facts, shown))
            continue
        if record.type == "scheduled.updated":
            if record.ref_id in scheduled:
                rendered.append(scheduled_event(record, thread_facts, scheduled[record.ref_id]))
            continue
        message = messages.get(record.message_id) if record.message_id is not None else None
        event = await _render_one(conn, record, thread_facts, message, threads)
        if event is not None:
            rendered.append(event)
    return rendered


async def _render_one(
    conn: AsyncConnection,
    record: EventRecord,
    facts: ThreadFacts,
    message: StoredMessage | None,
    threads: dict[int, ThreadValue],
) -> BusEvent | None:
    thread = threads.get(facts.id)
    match record.type:
        case "message.acked" if message is not None:
            acks = {a["user_id"]: a["at"] for a in await message_store.acks_of(conn, message.value.id)}
            return acked_event(record, facts, message, str(acks.get(record.user_id, "")))
        case "message.created" | "message.updated" | "message.deleted" if message is not None:
            return message_event(record, facts, message)
        case "mention" if message is not None:
            return mention_event(record, message)
        case "read":
            return read_event(record, facts)
        case "thread.created" if thread is not None:
            return thread_event(record, facts, thread, record.user_id or 0)
        case "thread.updated" if thread is not None:
            return thread_updated_event(record, facts, thread)
        case "thread.unread":
            return thread_unread_event(record)
        case "task.updated" if message is not None and record.ref_id is not None:
            task = await task_store.task_of_message(conn, message.value.id)
            return None if task is None else task_event(record, facts, task, message)
    return None


async def load(conn: AsyncConnection, after: int, through: int) -> list[BusEvent]:
    return await render(conn, await event_store.events_between(conn, after, through))


# At most this many records rendered at once: their ids go into ``IN`` lists.
_RENDER_CHUNK = 500


class SharedRendering:
    """``render(records)`` for replays that run at the same time: a reconnect storm's sessions
    each read which events they may see, mostly the same ones (the clients of one account, a
    firm's staff). Rendered one replay at a time, each event would be read and built once per
    session; here the records of the replays that arrive while a rendering runs go together in the
    next one, each distinct event rendered once, from rows read after every caller asked."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._batches: Batched[list[EventRecord], list[BusEvent]] = Batched(self._render)

    async def render(self, records: list[EventRecord]) -> list[BusEvent]:
        if not records:
            return []
        return await self._batches.call(records)

    async def _render(self, batch: list[list[EventRecord]]) -> list[list[BusEvent]]:
        distinct = sorted({r.id: r for records in batch for r in records}.values(), key=lambda r: r.id)
        rendered: dict[int | None, BusEvent] = {}
        async with self._db.read() as conn:
            for start in range(0, len(distinct), _RENDER_CHUNK):
                for event in await render(conn, distinct[start : start + _RENDER_CHUNK]):
                    rendered[event.event_id] = event
        # Rendering leaves out some records (a deleted thread's events): so does each replay.
        return [[rendered[r.id] for r in records if r.id in rendered] for records in batch]
