"""Threads and messages: create, send, edit, delete, read, typing, history, listing, replay."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from chatd import errors, richtext
from chatd.broker import Broker
from chatd.bus import BusEvent
from chatd.clock import Clock
from chatd.coalesce import SharedRead
from chatd.config import Settings
from chatd.services import edit_history
from chatd.services import events as rendering
from chatd.services.attachments import Attachments
from chatd.services.checks import check_named_user, parse_cursor, visible_message
from chatd.services.client_copies import ClientCopies
from chatd.services.notifications import AfterCommit, Notifications
from chatd.services.signatures import Signatures, append
from chatd.services.tasks import Tasks
from chatd.services.templates import Templates
from chatd.throttles import Throttles
from protocol.frames import Send as SendFrame
from protocol.frames import TaskSpec
from protocol.values import (
    CopyChannel,
    Folder,
    Message,
    MessageKind,
    NotificationKind,
    Role,
    Source,
    Thread,
    ThreadState,
)
from storage import Database, Duplicate
from storage import NotFound as StorageNotFound
from storage import attachments as attachment_store
from storage import directory as directory_store
from storage import events as event_store
from storage import handles as handle_store
from storage import inbox as inbox_store
from storage import messages as message_store
from storage import threads as thread_store
from storage.directory import Account
from storage.messages import Body, MessageOptions, StoredMessage
from storage.viewer import Viewer

logger = logging.getLogger(__name__)

TYPING_INTERVAL_S = 2.0


@dataclass(frozen=True, slots=True)
class SendOptions:
    """A message's options beyond its body and kind (see the ``send`` frame)."""

    urgent: bool = False
    ack_requested: bool = False
    private_to: int | None = None
    cc: tuple[int, ...] = ()
    task: TaskSpec | None = None
    # Staff messages get the sender's signature appended (chatd/services/signatures.py).
    signature: bool = True
    # What chatd writes itself marks its messages so (see protocol.values.Message.automatic).
    automatic: str | None = None
    # None: the author's default (chatd/services/client_copies.py).
    copy_to: tuple[CopyChannel, ...] | None = None


NO_OPTIONS = SendOptions()
# Called in the transaction of every new message (automatic replies, reply reminders); returns
# events to publish after the message's.
MessageHook = Callable[
    [AsyncConnection, Account, thread_store.ThreadFacts, Message, datetime], Awaitable[list[BusEvent]]
]


def send_options(frame: SendFrame) -> SendOptions:
    return SendOptions(
        urgent=frame.urgent,
        ack_requested=frame.ack_requested,
        private_to=frame.private_to,
        cc=tuple(frame.cc),
        task=frame.task,
        signature=frame.signature,
        copy_to=None if frame.copy_to is None else tuple(frame.copy_to),
    )


@dataclass(frozen=True, slots=True)
class Page:
    threads: list[Thread]
    cursor: str | None


class Conversations:
    def __init__(
        self,
        db: Database,
        broker: Broker,
        clock: Clock,
        settings: Settings,
        attachments: Attachments,
        throttles: Throttles,
        tasks: Tasks,
        signatures: Signatures,
        notifications: Notifications,
        templates: Templates,
        copies: ClientCopies,
    ) -> None:
        self._db = db
        self._templates = templates
        self.signatures = signatures
        self._notifications = notifications
        self._copies = copies
        self._attachments = attachments
        self._tasks = tasks
        self._broker = broker
        self._clock = clock
        self._settings = settings
        self._throttles = throttles
        self._message_hooks: list[MessageHook] = []
        # A reconnect storm asks these at once: concurrent equal questions share one read.
        self._newest: SharedRead[int, int] = SharedRead()
        self._replays: SharedRead[tuple[Viewer, int, int, int | None], tuple[list[BusEvent], int]] = SharedRead()
        self._rendering = rendering.SharedRendering(db)

    def on_message(self, hook: MessageHook) -> None:
        self._message_hooks.append(hook)

    async def _after_message(
        self, conn: AsyncConnection, account: Account, facts: thread_store.ThreadFacts, message: Message
    ) -> list[BusEvent]:
        events: list[BusEvent] = []
        for hook in self._message_hooks:
            events.extend(await hook(conn, account, facts, message, self._clock.now()))
        return events

    # -- writes --

    async def create_thread(
        self,
        account: Account,
        *,
        subject: str,
        body: str,
        client_msg_id: str,
        client_account_id: int | None,
        participants: list[int],
        attachment_ids: list[int] = [],  # noqa: B006 (never mutated)
        source: Source = Source.PORTAL,
        signature: bool = True,
        template_id: int | None = None,
        fields: dict[str, str] = {},  # noqa: B006 (never mutated)
    ) -> tuple[Thread, Message]:
        check_may_write(account)
        subject, body = await self._from_template(
            account, subject, body, template_id, fields, client_account_id, with_files=bool(attachment_ids)
        )
        rendered = await self.compose(
            account, body, MessageKind.MESSAGE, with_files=bool(attachment_ids), sign=signature, thread_id=None
        )
        user = account.user
        subject = subject.strip()
        if not subject:
            raise errors.BadRequest("subject must not be blank")
        if user.role.is_client:
            if client_account_id not in (None, user.client_account_id):
                raise errors.NotFound(f"client account {client_account_id} not found")
            client_account_id = user.client_account_id
        now = self._clock.now()
        async with self._db.write() as conn:
            existing = await message_store.find_by_client_msg_id(conn, user.id, client_msg_id)
            if existing is not None:
                return await self._retried_thread(conn, account, existing)
            if (
                client_account_id is not None
                and await directory_store.client_account_firm(conn, client_account_id) != user.firm_id
            ):
                raise errors.NotFound(f"client account {client_account_id} not found")
            if (
                user.role.is_client
                and not (await directory_store.firm_settings(conn, user.firm_id)).clients_may_start_threads
            ):
                raise errors.Forbidden("this firm does not let clients start conversations")
            members = await self._check_participants(conn, account, participants, client_account_id)
            thread_id = await thread_store.create_thread(
                conn,
                firm_id=user.firm_id,
                client_account_id=client_account_id,
                subject=subject,
                created_by=user.id,
                now=now,
                source=source,
            )
            mentioned = [uid for uid in rendered.mentions if uid not in members]
            await thread_store.add_participants(conn, thread_id, [user.id, *members, *mentioned], now)
            message = await self._insert(
                conn, account, thread_id, rendered, client_msg_id, MessageKind.MESSAGE, now, attachment_ids
            )
            facts = await thread_store.visible_thread_facts(conn, account.viewer, thread_id)
            mention_events, after_commit = await self._mention(conn, account, facts, message, rendered, now)
            await self._copies.schedule(conn, account, facts, message.value, None, now)
            thread_record = await event_store.append_event(
                conn, firm_id=user.firm_id, type="thread.created", thread_id=thread_id, user_id=user.id, now=now
            )
            message_record = await event_store.append_event(
                conn,
                firm_id=user.firm_id,
                type="message.created",
                thread_id=thread_id,
                message_id=message.value.id,
                now=now,
            )
            thread = (await thread_store.threads_by_ids(conn, [thread_id]))[thread_id]
            caused = await self._after_message(conn, account, facts, message.value)
        self.publish(rendering.thread_event(thread_record, facts, thread, user.id))
        self.publish(rendering.message_event(message_record, facts, message))
        for event in mention_events:
            self.publish(event)
        for effect in after_commit:
            effect()
        for event in caused:
            self.publish(event)
        return thread, message.for_author()

    async def _from_template(
        self,
        account: Account,
        subject: str,
        body: str,
        template_id: int | None,
        fields: dict[str, str],
        client_account_id: int | None,
        *,
        with_files: bool,
    ) -> tuple[str, str]:
        """A new thread's subject and body: as given, or rendered from ``template_id``, or (staff
        giving no body) from their default template. A subject given replaces the template's."""
        if template_id is not None and body.strip():
            raise errors.BadRequest("give a body or a template_id, not both")
        if template_id is None and (body.strip() or with_files):
            if fields:
                raise errors.BadRequest("fields are for templates: give a template_id")
            return subject, body
        rendered = await self._templates.for_new_thread(
            account, template_id=template_id, client_account_id=client_account_id, fields=fields
        )
        if rendered is None:
            return subject, body
        return (subject if subject.strip() else rendered.subject), rendered.body

    async def send(
        self,
        account: Account,
        *,
        thread_id: int,
        body: str,
        client_msg_id: str,
        kind: MessageKind,
        attachment_ids: list[int] = [],  # noqa: B006 (never mutated)
        options: SendOptions = NO_OPTIONS,
    ) -> Message:
        check_may_write(account)
        self._check_kind(account, kind, options)
        self.check_body(body, with_files=bool(attachment_ids))
        user = account.user
        # Concurrent sends share a transaction (group commit): this one's statements run in a
        # savepoint, so a send refused half-way leaves no trace and the others are not affected.
        async with self._db.write_batched() as conn:
            facts = await self.visible_thread(conn, account, thread_id)
            await thread_store.lock_for_new_message(conn, thread_id)
            existing = await message_store.find_by_client_msg_id(conn, user.id, client_msg_id)
            if existing is not None:
                if existing.value.thread_id != thread_id:
                    raise errors.Conflict("client_msg_id was used for a message in another thread")
                return existing.for_author()
            # Signed and its mentions resolved in the batch: a read transaction of their own cost
            # more than the reads (a staff send's largest share of the event loop).
            rendered = await self.compose_in(
                conn, account, body, kind, sign=options.signature, thread_id=thread_id, private_to=options.private_to
            )
            message, events, after_commit = await self.post(
                conn,
                account,
                facts,
                body=rendered,
                client_msg_id=client_msg_id,
                kind=kind,
                attachment_ids=attachment_ids,
                options=options,
            )
        for event in events:
            self.publish(event)
        for effect in after_commit:
            effect()
        return message.for_author()

    async def post(
        self,
        conn: AsyncConnection,
        account: Account,
        facts: thread_store.ThreadFacts,
        *,
        body: Body,
        client_msg_id: str,
        kind: MessageKind,
        attachment_ids: list[int] = [],  # noqa: B006 (never mutated)
        options: SendOptions = NO_OPTIONS,
    ) -> tuple[StoredMessage, list[BusEvent], list[AfterCommit]]:
        """Write a message and what it causes (its event, mentions, a task, inbox changes) in the
        caller's transaction (the thread is visible to the author); after the commit the caller
        publishes the events, the message's first, then runs the rest."""
        user, now = account.user, self._clock.now()
        stored_options = await self._message_options(conn, account, facts, options, now)
        message = await self._insert(
            conn, account, facts.id, body, client_msg_id, kind, now, attachment_ids, stored_options
        )
        # The author joined in _insert (with its read marker); people in copy, and teammates staff
        # mention, join here.
        if user.id not in facts.participant_ids:
            facts = dataclasses.replace(facts, participant_ids=(*facts.participant_ids, user.id))
        joining = set(stored_options.cc) | (set() if user.role.is_client else set(body.mentions))
        facts = await self._join(conn, facts, joining, now)
        record = await event_store.append_event(
            conn,
            firm_id=user.firm_id,
            type="message.created",
            thread_id=facts.id,
            message_id=message.value.id,
            now=now,
            **_event_visibility(message.value),
        )
        events = [rendering.message_event(record, facts, message)]
        mention_events, after_commit = await self._mention(conn, account, facts, message, body, now)
        events.extend(mention_events)
        if options.task is not None:
            events.append(
                await self._tasks.create_in(
                    conn, account, facts, message, options.task.assignee_id, options.task.due_on, now
                )
            )
        events.extend(await self._inbox_effects(conn, account, facts, message.value, now))
        events.extend(await self._after_message(conn, account, facts, message.value))
        await self._copies.schedule(conn, account, facts, message.value, options.copy_to, now)
        return message, events, after_commit

    async def _join(
        self, conn: AsyncConnection, facts: thread_store.ThreadFacts, user_ids: set[int], now: datetime
    ) -> thread_store.ThreadFacts:
        """Add to the thread those of ``user_ids`` not in it yet; the thread's facts with them."""
        joining = sorted(user_ids - set(facts.participant_ids))
        if not joining:
            return facts
        await thread_store.add_participants(conn, facts.id, joining, now)
        return dataclasses.replace(facts, participant_ids=(*facts.participant_ids, *joining))

    async def _mention(
        self,
        conn: AsyncConnection,
        account: Account,
        facts: thread_store.ThreadFacts,
        message: StoredMessage,
        body: Body,
        now: datetime,
    ) -> tuple[list[BusEvent], list[AfterCommit]]:
        """Each teammate the message mentions gets a durable ``mention`` event and a notification."""
        events: list[BusEvent] = []
        after_commit: list[AfterCommit] = []
        for user_id in body.mentions:
            record = await event_store.append_event(
                conn,
                firm_id=facts.firm_id,
                type="mention",
                thread_id=facts.id,
                message_id=message.value.id,
                user_id=user_id,
                ref_id=account.user.id,
                staff_only=True,
                private_to=user_id,
                private_from=user_id,
                now=now,
            )
            events.append(rendering.mention_event(record, message))
            after_commit.append(
                await self._notifications.notify(
                    conn,
                    user_id=user_id,
                    kind=NotificationKind.MENTION,
                    thread_id=facts.id,
                    message_id=message.value.id,
                    summary=f"{account.user.name} mentioned you",
                )
            )
        return events, after_commit

    async def edit(self, account: Account, *, message_id: int, body: str) -> Message:
        check_may_write(account)
        self.check_body(body)
        if "@" not in body:
            return await self._change(account, message_id, richtext.render(body))
        async with self._db.read() as conn:
            found = await visible_message(conn, account, message_id)
            people = await self.mentionable(conn, account, found.value.thread_id, found.value.private_to)
        rendered = richtext.render(body, people)
        # As in Slack and Zulip, an edit tells only the people it newly mentions (and staff join);
        # those mentioned before were told when it was sent.
        before = set(richtext.render(found.value.body, people).mentions)
        return await self._change(account, message_id, rendered, tuple(u for u in rendered.mentions if u not in before))

    async def delete(self, account: Account, *, message_id: int) -> Message:
        check_may_write(account)
        return await self._change(account, message_id, None)

    async def read(self, account: Account, *, thread_id: int, message_id: int) -> None:
        now = self._clock.now()
        async with self._db.write() as conn:
            message = await visible_message(conn, account, message_id)
            if message.value.thread_id != thread_id:
                raise errors.NotFound(f"message {message_id} not found in thread {thread_id}")
            event = await self.record_read(conn, account, thread_id, message_id, now)
        if event is not None:
            self.publish(event)

    async def record_read(
        self, conn: AsyncConnection, account: Account, thread_id: int, message_id: int, now: datetime
    ) -> BusEvent | None:
        """Inside the caller's transaction: move the reader's marker forward to a message they may
        see, and the read receipt that says so (None when the marker was already there)."""
        user = account.user
        previous = await thread_store.mark_read(conn, thread_id, user.id, message_id, now)
        if previous is None:
            return None
        message = await visible_message(conn, account, message_id)
        client_ref = (
            message_id
            if message.value.kind is MessageKind.MESSAGE and message.value.private_to is None
            else await message_store.newest_visible_id_at_or_before(conn, thread_id, message_id)
        )
        client_previous = (
            await message_store.newest_visible_id_at_or_before(conn, thread_id, previous) if previous else 0
        )
        facts = await thread_store.visible_thread_facts(conn, account.viewer, thread_id)
        hidden_from_clients = not facts.receipts_to_clients and not user.role.is_client
        record = await event_store.append_event(
            conn,
            firm_id=user.firm_id,
            type="read",
            thread_id=thread_id,
            user_id=user.id,
            ref_id=message_id,
            client_ref_id=client_ref,
            # A marker that only moved across notes tells clients nothing they may know.
            staff_only=client_ref <= client_previous or hidden_from_clients,
            now=now,
        )
        return rendering.read_event(record, facts)

    async def typing(self, account: Account, *, thread_id: int, kind: MessageKind) -> None:
        """Fan out at most once per user and thread every TYPING_INTERVAL_S."""
        check_may_write(account)
        if kind is MessageKind.NOTE and account.user.role.is_client:
            raise errors.BadRequest("clients cannot write internal notes")
        if not await self._throttles.first_typing(account.user.id, thread_id):
            return
        async with self._db.read() as conn:
            facts = await self.visible_thread(conn, account, thread_id)
        self.publish(
            BusEvent(
                type="typing",
                event_id=None,
                audience=rendering.audience(
                    facts, staff_only=kind is MessageKind.NOTE, exclude_user_id=account.user.id
                ),
                data={"thread_id": thread_id, "user_id": account.user.id, "kind": kind.value},
            )
        )

    # -- reads --

    async def history(
        self, account: Account, *, thread_id: int, before: int | None, after: int | None, limit: int
    ) -> tuple[list[Message], bool]:
        if before is not None and after is not None:
            raise errors.BadRequest("give before or after, not both")
        async with self._db.read() as conn:
            await self.visible_thread(conn, account, thread_id)
            page, has_more = await message_store.history(
                conn, account.viewer, thread_id, before=before, after=after, limit=limit
            )
        return [self._as_seen_by(account, m) for m in page], has_more

    async def threads(
        self,
        account: Account,
        *,
        cursor: str | None,
        limit: int,
        folder: Folder = Folder.ALL,
        source: Source | None = None,
        label: str | None = None,
        client_account_id: int | None = None,
    ) -> Page:
        before = parse_cursor(cursor)
        if account.user.role.is_client and (folder is not Folder.ALL or source or label):
            raise errors.BadRequest("folders, sources and labels are the staff inbox's")
        async with self._db.read() as conn:
            found = await thread_store.list_threads(
                conn,
                account.viewer,
                before_message_id=before,
                limit=limit + 1,
                folder=folder,
                source=source,
                label=label,
                client_account_id=client_account_id,
            )
        page = found[:limit]
        next_cursor = str(page[-1].last_message_id) if len(found) > limit else None
        return Page(threads=page, cursor=next_cursor)

    async def thread(self, account: Account, thread_id: int) -> Thread:
        async with self._db.read() as conn:
            found = await thread_store.get_threads(conn, account.viewer, [thread_id])
        if thread_id not in found:
            raise errors.NotFound(f"thread {thread_id} not found")
        return found[thread_id]

    async def newest_event_id(self, account: Account) -> int:
        """The hello's position: no event of the firm at or below it can still commit."""
        firm_id = account.user.firm_id

        async def read() -> int:
            async with self._db.read() as conn:
                settled = await event_store.settled_event_id(conn)
                return await event_store.newest_event_id(conn, firm_id, through=settled)

        return await self._newest.get(firm_id, read)

    async def replay(self, account: Account, *, after: int, through: int) -> list[BusEvent]:
        """The durable events in (after, through] the account may see, or ResyncRequired."""
        events, _ = await self.replay_page(account, after=after, through=through, page=None)
        return events

    async def replay_page(
        self, account: Account, *, after: int, through: int, page: int | None
    ) -> tuple[list[BusEvent], int]:
        """The oldest ``page`` durable events in (after, through] the account may see (all of
        them up to the replay limit with ``page=None``), and the id they cover up to: ``through``
        once every event there was read (some events read are not rendered: a deleted thread's)."""
        if after >= through:
            return [], through
        viewer = account.viewer
        return await self._replays.get(
            (viewer, after, through, page), lambda: self._replay(viewer, after, through, page)
        )

    async def _replay(self, viewer: Viewer, after: int, through: int, page: int | None) -> tuple[list[BusEvent], int]:
        async with self._db.read() as conn:
            if after < await event_store.pruned_through(conn):
                raise errors.ResyncRequired("events after that id are no longer kept: refetch threads and history")
            most = self._settings.max_replay_events
            records = await event_store.events_for_viewer(
                conn, viewer, after=after, through=through, limit=most + 1 if page is None else page
            )
            if page is None and len(records) > most:
                raise errors.ResyncRequired(f"more than {most} events were missed: refetch threads and history")
            covered = records[-1].id if page is not None and len(records) == page else through
        # Rendered with the other viewers' replays of the storm, from rows read after this one.
        return await self._rendering.render(records), covered

    # -- helpers --

    def _check_kind(self, account: Account, kind: MessageKind, options: SendOptions) -> None:
        client = account.user.role.is_client
        if kind is MessageKind.NOTE and client:
            raise errors.BadRequest("clients cannot write internal notes")
        if kind is MessageKind.REMARK and not client:
            raise errors.BadRequest("remarks are for clients to write")
        if options.ack_requested and not options.urgent:
            raise errors.BadRequest("acknowledgement is asked for urgent messages only")
        if kind is not MessageKind.MESSAGE and (options.private_to or options.cc):
            raise errors.BadRequest(f"a {kind.value} cannot be private or have copies")
        if client and options.task is not None:
            raise errors.BadRequest("clients cannot make tasks")

    async def _message_options(
        self,
        conn: AsyncConnection,
        account: Account,
        facts: thread_store.ThreadFacts,
        options: SendOptions,
        now: datetime,
    ) -> MessageOptions:
        """Check who the message names (private recipient, copies): people who may see the thread."""
        named = {uid for uid in (options.private_to, *options.cc) if uid is not None} - {account.user.id}
        for uid in sorted(named):
            await check_named_user(conn, account, facts, uid)
        renotify_at = None
        if options.ack_requested:
            settings = await directory_store.firm_settings(conn, account.user.firm_id)
            renotify_at = now + timedelta(minutes=settings.urgent_renotify_minutes)
        return MessageOptions(
            urgent=options.urgent,
            ack_requested=options.ack_requested,
            renotify_at=renotify_at,
            private_to=options.private_to,
            cc=tuple(sorted(set(options.cc) - {account.user.id})),
            automatic=options.automatic,
        )

    async def _inbox_effects(
        self, conn: AsyncConnection, account: Account, facts: thread_store.ThreadFacts, message: Message, now: datetime
    ) -> list[BusEvent]:
        """What a message does to the staff inbox: a client's wakes an archived or snoozed thread;
        an urgent one marks the thread urgent."""
        values: dict[str, object] = {}
        if account.user.role.is_client and (facts.state == ThreadState.ARCHIVED or facts.snoozed):
            values |= {"state": ThreadState.INBOX.value, "snoozed": False}
        if message.urgent:
            values["urgent"] = True
        if not values:
            return []
        await inbox_store.update_threads(conn, [facts.id], values)
        return [await self.thread_updated(conn, account.user.firm_id, facts, now)]

    async def thread_updated(
        self, conn: AsyncConnection, firm_id: int, facts: thread_store.ThreadFacts, now: datetime
    ) -> BusEvent:
        """Record that a thread's inbox state changed, and the event that says so."""
        record = await event_store.append_event(
            conn, firm_id=firm_id, type="thread.updated", thread_id=facts.id, staff_only=True, now=now
        )
        thread = (await thread_store.threads_by_ids(conn, [facts.id]))[facts.id]
        return rendering.thread_updated_event(record, facts, thread)

    async def post_automatic(
        self,
        conn: AsyncConnection,
        author: Account,
        facts: thread_store.ThreadFacts,
        text: str,
        *,
        key: str,
        automatic: str,
    ) -> list[BusEvent]:
        """A message chatd posts by itself (``automatic`` names why: a recurring message, an
        auto-reply), stored once per ``key``; its events, to publish after the commit. Rendered
        without teammates to mention, so no mention notifications follow it."""
        _, events, _ = await self.post(
            conn,
            author,
            facts,
            body=self.render_body(text),
            client_msg_id=key,
            kind=MessageKind.MESSAGE,
            options=SendOptions(automatic=automatic),
        )
        return events

    def render_body(self, body: str, *, with_files: bool = False) -> Body:
        """The body checked and rendered (outside any transaction: rendering is CPU work).
        A message that carries files may have no text."""
        self.check_body(body, with_files=with_files)
        return richtext.render(body)

    def check_body(self, body: str, *, with_files: bool = False) -> None:
        if len(body) > self._settings.max_body_chars:
            raise errors.TooLarge(f"body is over {self._settings.max_body_chars} characters")
        if not body.strip() and not with_files:
            raise errors.BadRequest("body must not be blank")

    async def compose(
        self,
        account: Account,
        body: str,
        kind: MessageKind,
        *,
        with_files: bool,
        sign: bool,
        thread_id: int | None,
        private_to: int | None = None,
    ) -> Body:
        """What the author typed, checked, signed (staff messages) and rendered with its @mentions,
        before any write (rendering is CPU work)."""
        self.check_body(body, with_files=with_files)
        if not self._reads_for(account, body, kind, sign):
            return richtext.render(body)  # the hot path (a client's message): no read at all
        async with self._db.read() as conn:
            return await self.compose_in(
                conn, account, body, kind, sign=sign, thread_id=thread_id, private_to=private_to
            )

    async def compose_in(
        self,
        conn: AsyncConnection,
        account: Account,
        body: str,
        kind: MessageKind,
        *,
        sign: bool,
        thread_id: int | None,
        private_to: int | None = None,
    ) -> Body:
        """``compose`` in the caller's transaction, for a body already checked."""
        if not self._reads_for(account, body, kind, sign):
            return richtext.render(body)
        signature = await self.signatures.for_message(conn, account, kind, sign)
        people = await self.mentionable(conn, account, thread_id, private_to) if "@" in body else []
        return richtext.render(append(body, signature), people)

    def _reads_for(self, account: Account, body: str, kind: MessageKind, sign: bool) -> bool:
        """Whether composing the body reads the database: a signature to add, or @mentions."""
        return (sign and self.signatures.signs(account, kind)) or "@" in body

    async def mentionable(
        self, conn: AsyncConnection, account: Account, thread_id: int | None, private_to: int | None = None
    ) -> list[handle_store.Teammate]:
        """Who the author may @mention: any teammate (staff and bots) for staff and bots; for clients
        only those already in the thread; in a private message only its recipient."""
        others = [t for t in await handle_store.teammates(conn, account.user.firm_id) if t.id != account.user.id]
        if private_to is not None:
            return [t for t in others if t.id == private_to]
        if account.user.role.is_client:
            if thread_id is None:
                return []
            facts = await self.visible_thread(conn, account, thread_id)
            return [t for t in others if t.id in facts.member_ids]
        return others

    async def _retried_thread(
        self, conn: AsyncConnection, account: Account, existing: StoredMessage
    ) -> tuple[Thread, Message]:
        """A retried ``thread.create``: the key must be the one that opened a thread the caller
        still sees; then the answer is that thread and its first message, and nothing is published."""
        thread_id = existing.value.thread_id
        found = await thread_store.get_threads(conn, account.viewer, [thread_id])
        opened = await message_store.first_message_id(conn, thread_id) == existing.value.id
        if thread_id not in found or not opened:
            raise errors.Conflict("client_msg_id was used for another message")
        return found[thread_id], existing.for_author()

    async def _check_participants(
        self, conn: AsyncConnection, account: Account, user_ids: list[int], client_account_id: int | None
    ) -> list[int]:
        wanted = sorted(set(user_ids) - {account.user.id})
        if not wanted:
            return []
        roles = await directory_store.firm_user_ids(conn, account.user.firm_id, wanted)
        for uid in wanted:
            role = roles.get(uid)
            other_client = (
                role is Role.CLIENT and await directory_store.client_account_of(conn, uid) != client_account_id
            )
            # Clients only add people of their own account; they learn nothing of the firm's users.
            hidden = account.user.role.is_client and role is not Role.CLIENT
            if role is None or hidden:
                raise errors.NotFound(f"user {uid} not found")
            if other_client:
                if account.user.role.is_client:
                    raise errors.NotFound(f"user {uid} not found")
                raise errors.BadRequest(f"user {uid} is a client of another account")
        return wanted

    async def _insert(
        self,
        conn: AsyncConnection,
        account: Account,
        thread_id: int,
        body: Body,
        client_msg_id: str,
        kind: MessageKind,
        now: datetime,
        attachment_ids: list[int],
        options: MessageOptions | None = None,
    ) -> StoredMessage:
        files = await self._attachments.claim(conn, account, attachment_ids) if attachment_ids else []
        try:
            message = await message_store.insert_message(
                conn,
                thread_id=thread_id,
                author_id=account.user.id,
                kind=kind,
                body=body,
                client_msg_id=client_msg_id,
                now=now,
                attachments=files,
                options=options,
            )
        except Duplicate:
            raise errors.Conflict("client_msg_id is being used by a concurrent request") from None
        if files:
            await attachment_store.attach(conn, [f.id for f in files], message.value.id)
        await thread_store.touch_thread(
            conn,
            thread_id,
            message.value.id,
            now,
            seen_by_clients=kind is MessageKind.MESSAGE and (options is None or options.private_to is None),
        )
        await thread_store.advance_read_marker(conn, thread_id, account.user.id, message.value.id, now)
        return message

    async def _change(
        self, account: Account, message_id: int, body: Body | None, newly_mentioned: tuple[int, ...] = ()
    ) -> Message:
        """Edit (with a body) or delete (without) a message; authors only, and managers for deletion."""
        user = account.user
        now = self._clock.now()
        async with self._db.write() as conn:
            message = await visible_message(conn, account, message_id)
            moderator = body is None and user.role in (Role.OWNER, Role.MANAGER)
            if message.value.author_id != user.id and not moderator:
                # Worded as for a missing message: the refusal tells nothing more.
                raise errors.NotFound(f"message {message_id} not found")
            if message.value.deleted_at is not None:
                raise errors.Conflict(f"message {message_id} is deleted")
            try:
                if body is None:
                    changed = await message_store.mark_deleted(conn, message_id, now)
                else:
                    await edit_history.check_and_keep(conn, user.firm_id, message, now)
                    changed = await message_store.update_body(conn, message_id, body, now)
            except StorageNotFound:
                raise errors.Conflict(f"message {message_id} is deleted") from None
            facts = await thread_store.visible_thread_facts(conn, account.viewer, changed.value.thread_id)
            if newly_mentioned and not user.role.is_client:
                facts = await self._join(conn, facts, set(newly_mentioned), now)
            record = await event_store.append_event(
                conn,
                firm_id=user.firm_id,
                type="message.updated" if body is not None else "message.deleted",
                thread_id=changed.value.thread_id,
                message_id=message_id,
                now=now,
                **_event_visibility(changed.value),
            )
            mention_events: list[BusEvent] = []
            after_commit: list[AfterCommit] = []
            if body is not None and newly_mentioned:
                told = dataclasses.replace(body, mentions=newly_mentioned)
                mention_events, after_commit = await self._mention(conn, account, facts, changed, told, now)
        self.publish(rendering.message_event(record, facts, changed))
        for event in mention_events:
            self.publish(event)
        for effect in after_commit:
            effect()
        return self._as_seen_by(account, changed)

    async def visible_thread(self, conn: AsyncConnection, account: Account, thread_id: int) -> thread_store.ThreadFacts:
        try:
            return await thread_store.visible_thread_facts(conn, account.viewer, thread_id)
        except StorageNotFound:
            raise errors.NotFound(f"thread {thread_id} not found") from None

    def _as_seen_by(self, account: Account, message: StoredMessage) -> Message:
        return message.for_author() if message.value.author_id == account.user.id else message.value

    def publish(self, event: BusEvent) -> None:
        self._broker.publish(event)


def check_may_write(account: Account) -> None:
    if account.read_only:
        raise errors.ReadOnly("this bot is read-only: it may read threads, not write to them")


def _event_visibility(message: Message) -> dict[str, Any]:
    """Who may replay a message's events: as the message itself (notes, remarks, private)."""
    return {
        "staff_only": message.kind is MessageKind.NOTE,
        "private_to": message.private_to,
        "private_from": message.author_id if message.private_to or message.kind is MessageKind.REMARK else None,
        "managers_only": message.kind is MessageKind.REMARK,
    }
