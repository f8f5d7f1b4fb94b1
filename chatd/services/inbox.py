"""The staff inbox: folder counts, actions on selections of threads, acknowledgements, the client
card, remarks, firm settings, and the timed work (follow-ups coming due, urgent re-notification)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from chatd import errors
from chatd.broker import Broker
from chatd.bus import BusEvent
from chatd.clock import Clock
from chatd.services import events as rendering
from chatd.services.attachments import Attachments
from chatd.services.checks import parse_cursor, visible_message
from chatd.services.conversations import Conversations
from chatd.services.notifications import AfterCommit, Notifications
from protocol import actions
from protocol.values import Message, MessageKind, NotificationKind, Role, Source, Thread, ThreadState, format_time
from storage import Database
from storage import directory as directory_store
from storage import events as event_store
from storage import folders as folder_store
from storage import inbox as inbox_store
from storage import messages as message_store
from storage import threads as thread_store
from storage.directory import Account
from storage.threads import ThreadFacts

logger = logging.getLogger(__name__)

STAFF_ROLES = (Role.OWNER, Role.MANAGER, Role.STAFF)
Result = dict[str, Any]
ActionHook = Callable[[AsyncConnection, list[ThreadFacts], actions.Action, datetime], Awaitable[None]]


class Inbox:
    def __init__(
        self,
        db: Database,
        broker: Broker,
        clock: Clock,
        conversations: Conversations,
        notifications: Notifications,
        attachments: Attachments,
    ) -> None:
        self._db = db
        self._attachments = attachments
        self._broker = broker
        self._clock = clock
        self._conversations = conversations
        self._notifications = notifications
        self._action_hooks: list[ActionHook] = []

    def on_action(self, hook: ActionHook) -> None:
        """Called in the transaction of an action with the threads it changed (reply reminders)."""
        self._action_hooks.append(hook)

    # -- folders and actions --

    async def folders(self, account: Account, *, source: Source | None) -> list[dict[str, Any]]:
        _check_staff(account)
        async with self._db.read() as conn:
            counts = await folder_store.folder_counts(conn, account.viewer, source)
        return [{"name": folder.value, "count": count, "unread": unread} for folder, (count, unread) in counts.items()]

    async def act(self, account: Account, *, thread_ids: list[int], action: actions.Action) -> list[Result]:
        """Apply one action to each thread in one transaction; one result per thread, in order.
        A thread the caller cannot see, or that the action does not apply to, gets an error result
        and the others are still changed. A bad action (an assignee who is not staff, a follow-up
        date in the past) fails the whole request and changes nothing."""
        _check_staff(account)
        now = self._clock.now()
        wanted = list(dict.fromkeys(thread_ids))
        published: list[BusEvent] = []
        after_commit: list[AfterCommit] = []
        async with self._db.write() as conn:
            await self._check_action(conn, account, action, now)
            facts = {f.id: f for f in await self._visible(conn, account, wanted)}
            results: dict[int, Result] = {}
            changed: list[ThreadFacts] = []
            for thread_id in wanted:
                found = facts.get(thread_id)
                problem = _problem(action, found)
                if problem is not None:
                    results[thread_id] = {"thread_id": thread_id, "ok": False, "error": problem}
                    continue
                assert found is not None
                results[thread_id] = {"thread_id": thread_id, "ok": True}
                changed.append(found)
            # Threads deleted for good take their files: the rows now, the blobs after the commit.
            forgotten = (
                await self._attachments.forget_threads(conn, [f.id for f in changed])
                if isinstance(action, actions.DeleteForever) and changed
                else []
            )
            published = await self._apply(conn, account, action, changed, now)
            for hook in self._action_hooks:
                await hook(conn, changed, action, now)
            assignee = action.user_id if isinstance(action, actions.Assign) else None
            if assignee is not None and assignee != account.user.id:
                for assigned in changed:
                    after_commit.append(
                        await self._notifications.notify(
                            conn,
                            user_id=assignee,
                            kind=NotificationKind.ASSIGNMENT,
                            thread_id=assigned.id,
                            message_id=None,
                            summary=f"{account.user.name} assigned a conversation to you",
                        )
                    )
        for event in published:
            self._broker.publish(event)
        for callback in after_commit:
            callback()
        if forgotten:
            await self._attachments.discard_blobs(forgotten)
        return [results[t] for t in wanted]

    async def _check_action(
        self, conn: AsyncConnection, account: Account, action: actions.Action, now: datetime
    ) -> None:
        match action:
            case actions.Assign(user_id=user_id) if user_id is not None:
                role = (await directory_store.firm_user_ids(conn, account.user.firm_id, [user_id])).get(user_id)
                if role is None:
                    raise errors.NotFound(f"user {user_id} not found")
                if role not in STAFF_ROLES:
                    raise errors.BadRequest(f"user {user_id} is not a staff member: only staff can be assigned")
            case actions.FollowUp(at=at) if at is not None:
                if at.tzinfo is None:
                    raise errors.BadRequest("follow-up time needs a time zone, e.g. 2026-12-01T09:00:00+01:00")
                if at <= now:
                    raise errors.BadRequest("follow-up time is in the past")

    async def _visible(self, conn: AsyncConnection, account: Account, thread_ids: list[int]) -> list[ThreadFacts]:
        found = await thread_store.facts_by_ids(conn, thread_ids)
        visible = await thread_store.get_threads(conn, account.viewer, list(found))
        return [f for f in found.values() if f.id in visible]

    async def _apply(
        self, conn: AsyncConnection, account: Account, action: actions.Action, threads: list[ThreadFacts], now: datetime
    ) -> list[BusEvent]:
        ids = [f.id for f in threads]
        if not ids:
            return []
        match action:
            case actions.MarkRead():
                return await self._mark_read(conn, account, threads, now)
            case actions.MarkUnread():
                return await self._mark_unread(conn, account, threads, now)
            case actions.DeleteForever():
                return await self._delete_forever(conn, account, threads, now)
            case actions.Labels(add=add, remove=remove):
                await inbox_store.add_labels(conn, ids, add)
                await inbox_store.remove_labels(conn, ids, remove)
            case _:
                await inbox_store.update_threads(conn, ids, _state_values(action))
        return [await self._conversations.thread_updated(conn, account.user.firm_id, f, now) for f in threads]

    async def _mark_read(
        self, conn: AsyncConnection, account: Account, threads: list[ThreadFacts], now: datetime
    ) -> list[BusEvent]:
        events = []
        for facts in threads:
            newest = await message_store.newest_visible_id(conn, account.viewer, facts.id)
            if newest:
                event = await self._conversations.record_read(conn, account, facts.id, newest, now)
                if event is not None:
                    events.append(event)
        return events

    async def _mark_unread(
        self, conn: AsyncConnection, account: Account, threads: list[ThreadFacts], now: datetime
    ) -> list[BusEvent]:
        """Move the caller's read marker back before the newest message someone else wrote."""
        events = []
        for facts in threads:
            newest = await message_store.newest_visible_id(conn, account.viewer, facts.id, not_by=account.user.id)
            if not newest:
                continue
            await thread_store.set_read_marker(conn, facts.id, account.user.id, newest - 1, now)
            record = await event_store.append_event(
                conn,
                firm_id=facts.firm_id,
                type="thread.unread",
                thread_id=facts.id,
                user_id=account.user.id,
                ref_id=1,
                private_to=account.user.id,
                private_from=account.user.id,
                staff_only=True,
                now=now,
            )
            events.append(rendering.thread_unread_event(record))
        return events

    async def _delete_forever(
        self, conn: AsyncConnection, account: Account, threads: list[ThreadFacts], now: datetime
    ) -> list[BusEvent]:
        await inbox_store.delete_threads(conn, [f.id for f in threads])
        events = []
        for facts in threads:
            record = await event_store.append_event(
                conn,
                firm_id=facts.firm_id,
                type="thread.deleted",
                thread_id=None,
                ref_id=facts.id,
                client_ref_id=facts.client_account_id,
                user_id=account.user.id,
                now=now,
            )
            events.append(rendering.thread_deleted_event(record))
        return events

    # -- acknowledgements --

    async def acknowledge(self, account: Account, *, message_id: int) -> dict[str, Any]:
        now = self._clock.now()
        async with self._db.write() as conn:
            message = await visible_message(conn, account, message_id)
            if not message.value.ack_requested:
                raise errors.BadRequest(f"message {message_id} does not ask for acknowledgement")
            if message.value.author_id == account.user.id:
                raise errors.BadRequest("authors do not acknowledge their own messages")
            facts = await thread_store.visible_thread_facts(conn, account.viewer, message.value.thread_id)
            event = None
            if await message_store.acknowledge(conn, message_id, account.user.id, now):
                if not await self._unacknowledged(conn, facts, message.value):
                    await message_store.stop_renotifying(conn, message_id)
                record = await event_store.append_event(
                    conn,
                    firm_id=facts.firm_id,
                    type="message.acked",
                    thread_id=facts.id,
                    message_id=message_id,
                    user_id=account.user.id,
                    now=now,
                    staff_only=message.value.kind is MessageKind.NOTE,
                    private_to=message.value.private_to,
                    private_from=message.value.author_id if message.value.private_to else None,
                )
                event = rendering.acked_event(record, facts, message, format_time(now))
            acks = await message_store.acks_of(conn, message_id)
        if event is not None:
            self._broker.publish(event)
        return {"acks": acks}

    async def acks(self, account: Account, *, message_id: int) -> list[dict[str, object]]:
        async with self._db.read() as conn:
            await visible_message(conn, account, message_id)
            return await message_store.acks_of(conn, message_id)

    async def _unacknowledged(self, conn: AsyncConnection, facts: ThreadFacts, message: Message) -> list[int]:
        """Who was asked to acknowledge and has not: the private recipient, or the thread's members
        and (for a message clients see) the client account's users; never the author."""
        if message.private_to is not None:
            recipients = {message.private_to}
        else:
            recipients = set(facts.member_ids)
            if facts.client_account_id is not None and message.kind is MessageKind.MESSAGE:
                recipients |= set(await directory_store.client_user_ids(conn, facts.client_account_id))
        recipients.discard(message.author_id)
        done = {ack["user_id"] for ack in await message_store.acks_of(conn, message.id)}
        return sorted(recipients - done)

    async def renotify_due(self) -> int:
        """Ask again everyone who has not acknowledged a due urgent message; one claim per message."""
        now = self._clock.now()
        after_commit: list[AfterCommit] = []
        async with self._db.read() as conn:
            if not await message_store.any_renotification_due(conn, now):
                return 0
        async with self._db.write() as conn:
            for message in await message_store.claim_due_renotifications(conn, now):
                facts = (await thread_store.facts_by_ids(conn, [message.value.thread_id])).get(message.value.thread_id)
                missing = await self._unacknowledged(conn, facts, message.value) if facts is not None else []
                if not missing:
                    await message_store.stop_renotifying(conn, message.value.id)
                    continue
                for user_id in missing:
                    after_commit.append(
                        await self._notifications.notify(
                            conn,
                            user_id=user_id,
                            kind=NotificationKind.REMINDER,
                            thread_id=message.value.thread_id,
                            message_id=message.value.id,
                            summary="An urgent message is waiting for your acknowledgement",
                        )
                    )
        for callback in after_commit:
            callback()
        return len(after_commit)

    # -- follow-ups --

    async def follow_ups_due(self) -> int:
        """Bring back the threads whose follow-up date came, marked, and remind their assignee."""
        now = self._clock.now()
        events: list[BusEvent] = []
        after_commit: list[AfterCommit] = []
        async with self._db.read() as conn:
            if not await inbox_store.any_follow_up_due(conn, now):
                return 0
        async with self._db.write() as conn:
            due = await inbox_store.claim_due_follow_ups(conn, now)
            facts = await thread_store.facts_by_ids(conn, [d.thread_id for d in due])
            for item in due:
                events.append(await self._conversations.thread_updated(conn, item.firm_id, facts[item.thread_id], now))
                if item.assignee_id is not None:
                    after_commit.append(
                        await self._notifications.notify(
                            conn,
                            user_id=item.assignee_id,
                            kind=NotificationKind.FOLLOW_UP,
                            thread_id=item.thread_id,
                            message_id=None,
                            summary="A conversation's follow-up date has come",
                        )
                    )
        for event in events:
            self._broker.publish(event)
        for callback in after_commit:
            callback()
        if due:
            logger.info("%d follow-ups came due", len(due))
        return len(due)

    # -- client card, remarks, settings --

    async def client_card(self, account: Account, *, client_account_id: int) -> dict[str, Any]:
        _check_staff(account)
        async with self._db.read() as conn:
            card = await directory_store.client_account(conn, account.user.firm_id, client_account_id)
            if card is None:
                raise errors.NotFound(f"client account {client_account_id} not found")
            threads: list[Thread] = await thread_store.list_threads(
                conn, account.viewer, before_message_id=None, limit=200, client_account_id=client_account_id
            )
        return {"client": card, "threads": threads}

    async def remarks(self, account: Account, *, cursor: str | None, limit: int) -> tuple[list[Message], str | None]:
        if not account.viewer.sees_remarks:
            raise errors.Forbidden("client remarks are for owners and managers")
        before = parse_cursor(cursor)
        async with self._db.read() as conn:
            found = await message_store.remarks(conn, account.viewer, before=before, limit=limit + 1)
        page = [m.value for m in found[:limit]]
        return page, (str(page[-1].id) if len(found) > limit else None)

    async def firm_settings(self, account: Account) -> dict[str, Any]:
        async with self._db.read() as conn:
            return asdict(await directory_store.firm_settings(conn, account.user.firm_id))

    async def update_firm_settings(self, account: Account, changes: dict[str, Any]) -> dict[str, Any]:
        if account.user.role is not Role.OWNER:
            raise errors.Forbidden("only owners change the firm's settings")
        async with self._db.write() as conn:
            await directory_store.update_firm_settings(conn, account.user.firm_id, changes)
            return asdict(await directory_store.firm_settings(conn, account.user.firm_id))


def _check_staff(account: Account) -> None:
    if account.user.role.is_client:
        raise errors.Forbidden("the inbox is for staff")


def _problem(action: actions.Action, facts: ThreadFacts | None) -> dict[str, str] | None:
    """Why the action does not apply to this thread, or None."""
    if facts is None:
        return {"code": "not_found", "message": "thread not found"}
    required = {
        actions.DeleteForever: (ThreadState.TRASH, "only threads in the Trash can be deleted for good"),
        actions.Restore: (ThreadState.TRASH, "only threads in the Trash can be restored"),
        actions.NotSpam: (ThreadState.SPAM, "the thread is not in Spam"),
        actions.Unarchive: (ThreadState.ARCHIVED, "the thread is not archived"),
    }.get(type(action))
    if required is not None and facts.state != required[0]:
        return {"code": "conflict", "message": required[1]}
    return None


def _state_values(action: actions.Action) -> dict[str, Any]:
    """The thread columns an action sets (the folder moves and flags)."""
    inbox, cleared = ThreadState.INBOX.value, {"follow_up_at": None, "snoozed": False, "follow_up_due": False}
    match action:
        case actions.Archive():
            return {"state": ThreadState.ARCHIVED.value, **cleared}
        case actions.Trash():
            return {"state": ThreadState.TRASH.value, **cleared}
        case actions.Spam():
            return {"state": ThreadState.SPAM.value, **cleared}
        case actions.Unarchive() | actions.Restore() | actions.NotSpam():
            return {"state": inbox}
        case actions.Assign(user_id=user_id):
            return {"assignee_id": user_id}
        case actions.FollowUp(at=None):
            return cleared
        case actions.FollowUp(at=at):
            return {"state": inbox, **cleared, "follow_up_at": at}
        case actions.Snooze():
            return {"state": inbox, **cleared, "snoozed": True}
        case actions.Urgent(on=on):
            return {"urgent": on}
    raise AssertionError(f"no columns for {action!r}")
