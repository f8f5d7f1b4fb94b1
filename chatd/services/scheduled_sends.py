"""Delayed send: ``send`` with ``send_at`` keeps the message until it is due, then sends it once.

Staff (and the author) see it as scheduled and may edit or cancel it until it is due. When it comes
due, the scheduler claims its due row and this module writes the message, its event and the new
state in that one transaction. What cannot be sent (thread gone, author deactivated or no longer
seeing the thread) is marked failed with the reason and reported to the author.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import msgspec
from sqlalchemy.ext.asyncio import AsyncConnection

from chatd import errors, richtext
from chatd.bus import BusEvent
from chatd.clock import Clock
from chatd.services import business_hours
from chatd.services.client_copies import ClientCopies
from chatd.services.conversations import Conversations, SendOptions, check_may_write
from chatd.services.events import scheduled_event
from protocol.values import CopyChannel, MessageKind, Role, ScheduledState
from protocol.values import ScheduledMessage as ScheduledValue
from scheduler.due import Done, Outcome
from storage import Database
from storage import NotFound as StorageNotFound
from storage import directory as directory_store
from storage import due as due_store
from storage import events as event_store
from storage import messages as message_store
from storage import scheduled as scheduled_store
from storage import threads as thread_store
from storage.directory import Account
from storage.due import DueItem
from storage.threads import ThreadFacts

logger = logging.getLogger(__name__)

DUE_KIND = "scheduled.send"
MAX_AHEAD = timedelta(days=365)
EVENT = "scheduled.updated"
NEXT_BUSINESS_MORNING = "next_business_morning"


async def send_time(conn: AsyncConnection, firm_id: int, raw: str, now: datetime) -> datetime:
    """``send_at``: an ISO 8601 time, or ``next_business_morning`` (the firm's next opening of a
    business day, from its business hours, time zone and closed dates as they are now)."""
    if raw == NEXT_BUSINESS_MORNING:
        moment = await business_hours.next_business_morning(conn, firm_id, now)
        if moment > now + MAX_AHEAD:
            raise errors.BadRequest("the firm's next business morning is more than a year away")
        return moment
    return parse_send_at(raw, now)


def parse_send_at(raw: str, now: datetime) -> datetime:
    """An ISO 8601 time with its offset, in the future and at most a year away."""
    try:
        moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise errors.BadRequest(f"send_at {raw!r} is not an ISO 8601 time") from None
    if moment.tzinfo is None:
        raise errors.BadRequest("send_at needs a time zone offset (e.g. Z or +02:00)")
    if moment <= now:
        raise errors.BadRequest("send_at is in the past")
    if moment > now + MAX_AHEAD:
        raise errors.BadRequest("send_at is more than a year away")
    return moment


class ScheduledSends:
    def __init__(self, db: Database, clock: Clock, conversations: Conversations, copies: ClientCopies) -> None:
        self._db = db
        self._clock = clock
        self._conversations = conversations
        self._copies = copies

    async def schedule(
        self,
        account: Account,
        *,
        thread_id: int,
        body: str,
        client_msg_id: str,
        kind: MessageKind,
        send_at: str,
        cancel_if_client_writes: bool,
        attachment_ids: list[int],
        signature: bool = True,
        copy_to: Sequence[CopyChannel] | None = None,
    ) -> ScheduledValue:
        self._check_author(account)
        if attachment_ids:
            raise errors.BadRequest("a scheduled message cannot carry attachments: send them now")
        self._conversations.render_body(body)
        # Signed now, so the author sees (and may edit) what will be sent.
        body = await self._conversations.signatures.sign(account, body, kind, signature)
        now = self._clock.now()
        user = account.user
        async with self._db.write() as conn:
            moment = await send_time(conn, user.firm_id, send_at, now)
            facts = await self._conversations.visible_thread(conn, account, thread_id)
            # Checked now, when the author can still fix it; kept as given so the default applies
            # only when none was given.
            self._copies.check(account, facts, copy_to, kind)
            existing = await scheduled_store.find_by_client_msg_id(conn, user.id, client_msg_id)
            if existing is not None:
                if existing.thread_id != thread_id:
                    raise errors.Conflict("client_msg_id was used for a message in another thread")
                return existing
            scheduled = await scheduled_store.insert_scheduled(
                conn,
                firm_id=user.firm_id,
                thread_id=thread_id,
                author_id=user.id,
                kind=kind,
                body=body,
                client_msg_id=client_msg_id,
                send_at=moment,
                cancel_if_client_writes=cancel_if_client_writes,
                copy_to=copy_to,
                now=now,
            )
            await due_store.schedule(
                conn,
                kind=DUE_KIND,
                key=scheduled_store.due_key(scheduled.id),
                due_at=moment,
                now=now,
                firm_id=user.firm_id,
                ref_id=scheduled.id,
            )
            event = await self._event(conn, facts, scheduled, now)
        self._conversations.publish(event)
        return scheduled

    async def list(self, account: Account, *, thread_id: int | None, include_done: bool) -> list[ScheduledValue]:
        self._check_author(account)
        states = list(ScheduledState) if include_done else [ScheduledState.SCHEDULED]
        async with self._db.read() as conn:
            if thread_id is not None:
                await self._conversations.visible_thread(conn, account, thread_id)
            found = await scheduled_store.list_scheduled(
                conn, account.viewer, thread_id=thread_id, states=states, limit=500
            )
            visible = await thread_store.get_threads(conn, account.viewer, list({s.thread_id for s in found}))
        return [s for s in found if s.thread_id in visible or s.author_id == account.user.id]

    async def edit(
        self,
        account: Account,
        *,
        scheduled_id: int,
        body: str | None,
        send_at: str | None,
        copy_to: Sequence[CopyChannel] | msgspec.UnsetType | None = msgspec.UNSET,
    ) -> ScheduledValue:
        """``copy_to``: the channels to copy it to the thread's clients by, None for the author's
        default when it is sent; UNSET leaves it as it is."""
        check_may_write(account)
        if body is not None:
            self._conversations.render_body(body)
        now = self._clock.now()
        changes: dict[str, Any] = {}
        if body is not None:
            changes["body"] = body
        if copy_to is not msgspec.UNSET:
            changes["copy_to"] = copy_to
        if not changes and send_at is None:
            raise errors.BadRequest("give body, send_at or copy_to")
        async with self._db.write() as conn:
            if send_at is not None:
                changes["send_at"] = await send_time(conn, account.user.firm_id, send_at, now)
            scheduled, facts = await self._changeable(conn, account, scheduled_id)
            if copy_to is not msgspec.UNSET:
                self._copies.check(account, facts, copy_to, scheduled.kind)
            scheduled = await scheduled_store.update_scheduled(conn, scheduled_id, now, **changes)
            if "send_at" in changes:
                await due_store.schedule(
                    conn,
                    kind=DUE_KIND,
                    key=scheduled_store.due_key(scheduled_id),
                    due_at=changes["send_at"],
                    now=now,
                    firm_id=account.user.firm_id,
                    ref_id=scheduled_id,
                )
            event = await self._event(conn, facts, scheduled, now)
        self._conversations.publish(event)
        return scheduled

    async def cancel(self, account: Account, *, scheduled_id: int) -> ScheduledValue:
        check_may_write(account)
        now = self._clock.now()
        async with self._db.write() as conn:
            scheduled, facts = await self._changeable(conn, account, scheduled_id)
            await due_store.cancel(conn, key=scheduled_store.due_key(scheduled_id), now=now)
            scheduled = await scheduled_store.update_scheduled(conn, scheduled_id, now, state=ScheduledState.CANCELLED)
            event = await self._event(conn, facts, scheduled, now)
        self._conversations.publish(event)
        return scheduled

    async def deliver(self, conn: AsyncConnection, item: DueItem, now: datetime) -> Outcome:
        """The due handler: send the message once, or say why it could not be sent."""
        assert item.ref_id is not None
        scheduled = await scheduled_store.get_scheduled(conn, item.ref_id, for_update=True)
        if scheduled is None or scheduled.state is not ScheduledState.SCHEDULED:
            return Done()  # cancelled, or its author deleted
        author = await directory_store.get_account(conn, scheduled.author_id)
        facts = (await thread_store.facts_by_ids(conn, [scheduled.thread_id])).get(scheduled.thread_id)
        reason = await self._why_not(conn, author, scheduled)
        if reason is not None:
            state = ScheduledState.CANCELLED if reason == CLIENT_WROTE else ScheduledState.FAILED
            failed = await scheduled_store.update_scheduled(conn, scheduled.id, now, state=state, error=reason)
            if state is ScheduledState.FAILED:
                logger.info("scheduled message %d not sent: %s", scheduled.id, reason)
            event = await self._event(conn, facts, failed, now)
            return Done(after_commit=[lambda: self._conversations.publish(event)])
        assert facts is not None
        await thread_store.lock_for_new_message(conn, facts.id)
        message, message_events, mention_effects = await self._conversations.post(
            conn,
            author,
            facts,
            body=richtext.render(scheduled.body, await self._conversations.mentionable(conn, author, facts.id, None)),
            client_msg_id=scheduled.client_msg_id,
            kind=scheduled.kind,
            options=SendOptions(copy_to=self._copies.still_possible(facts, scheduled.copy_to)),
        )
        sent = await scheduled_store.update_scheduled(
            conn, scheduled.id, now, state=ScheduledState.SENT, message_id=message.value.id
        )
        event = await self._event(conn, facts, sent, now)
        publish = self._conversations.publish
        return Done(
            after_commit=[
                *(functools.partial(publish, e) for e in message_events),
                lambda: publish(event),
                *mention_effects,
            ]
        )

    async def _why_not(self, conn: AsyncConnection, author: Account, scheduled: ScheduledValue) -> str | None:
        if not author.active:
            return "the author's account is deactivated"
        try:
            await thread_store.visible_thread_facts(conn, author.viewer, scheduled.thread_id)
        except StorageNotFound:
            return "the thread no longer exists or the author no longer sees it"
        if scheduled.cancel_if_client_writes:
            created = datetime.fromisoformat(scheduled.created_at.replace("Z", "+00:00"))
            if await scheduled_store.client_wrote_since(conn, scheduled.thread_id, created):
                return CLIENT_WROTE
        if await message_store.find_by_client_msg_id(conn, author.user.id, scheduled.client_msg_id) is not None:
            return "its client_msg_id was used by another message in the meantime"
        return None

    async def _changeable(
        self, conn: AsyncConnection, account: Account, scheduled_id: int
    ) -> tuple[ScheduledValue, ThreadFacts]:
        """The scheduled message, if the caller may change it: its author, or an owner or manager."""
        scheduled = await scheduled_store.get_scheduled(conn, scheduled_id, for_update=True)
        moderator = account.user.role in (Role.OWNER, Role.MANAGER)
        if scheduled is None or (
            scheduled.author_id != account.user.id
            and not (moderator and await scheduled_store.firm_of(conn, scheduled_id) == account.user.firm_id)
        ):
            raise errors.NotFound(f"scheduled message {scheduled_id} not found")
        facts = await self._conversations.visible_thread(conn, account, scheduled.thread_id)
        if scheduled.state is not ScheduledState.SCHEDULED:
            raise errors.Conflict(f"scheduled message {scheduled_id} is {scheduled.state.value}")
        return scheduled, facts

    async def _event(
        self, conn: AsyncConnection, facts: ThreadFacts | None, scheduled: ScheduledValue, now: datetime
    ) -> BusEvent:
        author = await directory_store.get_account(conn, scheduled.author_id)
        record = await event_store.append_event(
            conn,
            firm_id=author.user.firm_id,
            type=EVENT,
            thread_id=scheduled.thread_id if facts is not None else None,
            ref_id=scheduled.id,
            user_id=scheduled.author_id,
            staff_only=True,
            now=now,
        )
        return scheduled_event(record, facts, scheduled)

    @staticmethod
    def _check_author(account: Account) -> None:
        check_may_write(account)
        if account.user.role.is_client:
            raise errors.BadRequest("clients cannot schedule messages")


CLIENT_WROTE = "the client wrote first"
