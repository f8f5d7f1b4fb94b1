"""Turning stored facts into bus events: one place, used live, for resume and for gap filling."""

from __future__ import annotations

from typing import Any

import msgspec
from sqlalchemy.ext.asyncio import AsyncConnection

from chatd.bus import Audience, BusEvent
from protocol.values import MessageKind, Notification, ScheduledMessage
from protocol.values import Thread as ThreadValue
from storage import events as event_store
from storage import messages as message_store
from storage import notifications as notification_store
from storage import scheduled as scheduled_store
from storage import threads as thread_store
from storage.events import EventRecord
from storage.messages import StoredMessage
from storage.threads import ThreadFacts


def audience(facts: ThreadFacts, *, staff_only: bool = False, exclude_user_id: int | None = None) -> Audience:
    return Audience(
        firm_id=facts.firm_id,
        all_staff=facts.firm_shares_threads,
        client_account_id=facts.client_account_id,
        user_ids=facts.participant_ids,
        staff_only=staff_only,
        exclude_user_id=exclude_user_id,
    )


def _builtins(value: msgspec.Struct) -> dict[str, Any]:
    result: dict[str, Any] = msgspec.to_builtins(value)
    return result


def message_event(record: EventRecord, facts: ThreadFacts, message: StoredMessage) -> BusEvent:
    return BusEvent(
        type=record.type,
        event_id=record.id,
        audience=audience(facts, staff_only=message.value.kind is MessageKind.NOTE),
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


def notification_event(record: EventRecord, user_id: int, notification: Notification) -> BusEvent:
    """A user's own: delivered to that user's sessions only."""
    return BusEvent(
        type=record.type,
        event_id=record.id,
        audience=Audience(firm_id=record.firm_id, all_staff=False, client_account_id=None, user_ids=(user_id,)),
        data={"notification": _builtins(notification)},
    )


async def render(conn: AsyncConnection, records: list[EventRecord]) -> list[BusEvent]:
    """Bus events for stored records, from the rows as they are now (a deleted body stays deleted)."""
    thread_ids = list({r.thread_id for r in records if r.thread_id is not None})
    message_ids = [r.message_id for r in records if r.message_id is not None]
    facts = await thread_store.facts_by_ids(conn, thread_ids)
    messages = await message_store.messages_by_ids(conn, message_ids) if message_ids else {}
    threads = (
        await thread_store.threads_by_ids(conn, thread_ids) if any(r.type == "thread.created" for r in records) else {}
    )
    scheduled_ids = [r.ref_id for r in records if r.type == "scheduled.updated" and r.ref_id is not None]
    scheduled = await scheduled_store.scheduled_by_ids(conn, scheduled_ids) if scheduled_ids else {}
    notification_ids = [r.ref_id for r in records if r.type == "notification" and r.ref_id is not None]
    notifications = await notification_store.notifications_by_ids(conn, notification_ids) if notification_ids else {}
    rendered: list[BusEvent] = []
    for record in records:
        thread_facts = facts.get(record.thread_id) if record.thread_id is not None else None
        if thread_facts is None:
            continue  # the thread was deleted since
        if record.type.startswith("message.") and record.message_id in messages:
            rendered.append(message_event(record, thread_facts, messages[record.message_id]))
        elif record.type == "read":
            rendered.append(read_event(record, thread_facts))
        elif record.type == "thread.created" and record.thread_id in threads:
            rendered.append(thread_event(record, thread_facts, threads[record.thread_id], record.user_id or 0))
        elif record.type == "notification" and record.ref_id in notifications:
            found = notifications[record.ref_id]
            rendered.append(notification_event(record, found.user_id, found.value))
        elif record.type == "scheduled.updated" and record.ref_id in scheduled:
            rendered.append(scheduled_event(record, thread_facts, scheduled[record.ref_id]))
    return rendered


async def load(conn: AsyncConnection, after: int, through: int) -> list[BusEvent]:
    return await render(conn, await event_store.events_between(conn, after, through))
