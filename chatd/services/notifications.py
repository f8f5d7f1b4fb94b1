"""Notifications: in the app (a durable per-user ``notification`` event), by email and by SMS.

Other features call ``notify(conn, ...)`` inside their own transaction and run what it returns
after their commit. New messages need no call: a periodic job turns ``message.created`` events into
notifications (a cursor in SQL, advanced in the same transaction, so each message is handled once
whatever the number of processes), which keeps the send path short.

Web push goes out at once, one delivery per registered browser (chatd/services/push.py).
Email is batched: the first notification of a user schedules their batch ``notify_email_window_s``
later; what arrives meanwhile joins it. When the batch is due, notifications whose message the user
has read, or all of them when the user is connected, are skipped; the rest go in one email with
links back to the threads. SMS goes out at once, one per notification. Deliveries are leased due
work: retried with backoff, failed for good after the last attempt, and listed for staff.
"""

from __future__ import annotations

import html
import logging
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import msgspec
from sqlalchemy.ext.asyncio import AsyncConnection

from chatd import errors
from chatd.broker import Broker
from chatd.bus import BusEvent
from chatd.clock import Clock
from chatd.coalesce import Batched
from chatd.config import Settings
from chatd.mailer import Email, mailer_from
from chatd.services.events import notification_event, presence_event
from chatd.sms import gateway_from
from protocol.values import Channel, NotificationKind, Role, User
from protocol.values import Notification as NotificationValue
from storage import Database
from storage import due as due_store
from storage import events as event_store
from storage import notifications as store
from storage import push as push_store
from storage.due import DueItem
from storage.notifications import EmailItem, Recipient, StoredNotification

logger = logging.getLogger(__name__)

EMAIL_KIND = "notify.email"
SMS_KIND = "notify.sms"
PUSH_KIND = "notify.push"
EVENT = "notification"
CURSOR = "notify_fanout_through"
# Events per fan-out batch (see ``Notifications.fan_out``).
FAN_OUT_EVENTS = 30
# A connected session's row is refreshed every minute; older than this, its process is gone.
PRESENCE_REFRESH_S = 60
PRESENCE_STALE = timedelta(minutes=5)

# Push goes with email by default: it reaches only the browsers a user chose to register.
_STAFF_DEFAULTS: dict[NotificationKind, tuple[Channel, ...]] = {
    NotificationKind.NEW_MESSAGE: (Channel.IN_APP, Channel.EMAIL, Channel.PUSH),
    NotificationKind.MENTION: (Channel.IN_APP, Channel.EMAIL, Channel.PUSH),
    NotificationKind.ASSIGNMENT: (Channel.IN_APP, Channel.EMAIL, Channel.PUSH),
    NotificationKind.REMINDER: (Channel.IN_APP,),
    NotificationKind.FOLLOW_UP: (Channel.IN_APP, Channel.EMAIL, Channel.PUSH),
}
_CLIENT_DEFAULTS: dict[NotificationKind, tuple[Channel, ...]] = {
    NotificationKind.NEW_MESSAGE: (Channel.IN_APP, Channel.EMAIL, Channel.PUSH),
    NotificationKind.MENTION: (Channel.IN_APP, Channel.EMAIL, Channel.PUSH),
    NotificationKind.ASSIGNMENT: (Channel.IN_APP,),
    NotificationKind.REMINDER: (Channel.IN_APP, Channel.EMAIL, Channel.PUSH),
    NotificationKind.FOLLOW_UP: (Channel.IN_APP,),
}
_PUSH_TITLES = {
    NotificationKind.NEW_MESSAGE: "New message",
    NotificationKind.MENTION: "You were mentioned",
    NotificationKind.ASSIGNMENT: "Assigned to you",
    NotificationKind.REMINDER: "Reminder",
    NotificationKind.FOLLOW_UP: "Follow-up",
}

AfterCommit = Callable[[], None]


def defaults(role: Role) -> dict[NotificationKind, tuple[Channel, ...]]:
    """Channels per kind for a role; bots are never notified (they read the event stream)."""
    if role is Role.BOT:
        return {kind: () for kind in NotificationKind}
    return _CLIENT_DEFAULTS if role.is_client else _STAFF_DEFAULTS


def channels_for(role: Role, settings: store.Settings, kind: NotificationKind) -> tuple[Channel, ...]:
    chosen = settings.channels.get(kind.value)
    if chosen is None or role is Role.BOT:
        return defaults(role)[kind]
    return tuple(Channel(c) for c in chosen)


def effective(role: Role, settings: store.Settings) -> dict[str, list[str]]:
    return {kind.value: [c.value for c in channels_for(role, settings, kind)] for kind in NotificationKind}


class Notifications:
    def __init__(self, db: Database, broker: Broker, clock: Clock, settings: Settings) -> None:
        self._db = db
        self._broker = broker
        self._clock = clock
        self._settings = settings
        self._window = timedelta(seconds=settings.notify_email_window_s)
        self._mailer = mailer_from(settings)
        self._sms = gateway_from(settings)
        self.process_id = uuid.uuid4().hex
        self._opened: Batched[User, str] = Batched(self._record_opened)
        self._closed: Batched[tuple[str, User], None] = Batched(self._record_closed)

    # -- the call other features make, inside their transaction --

    async def notify(
        self,
        conn: AsyncConnection,
        *,
        user_id: int,
        kind: NotificationKind,
        thread_id: int | None,
        message_id: int | None,
        summary: str,
    ) -> AfterCommit:
        """Record a notification for the user on the channels they chose; call the result after commit."""
        recipient = await store.user_contact(conn, user_id)
        if recipient is None:
            return _nothing
        settings = await store.get_settings(conn, user_id)
        return (await self._notify_all(conn, [_Wanted(recipient, settings, kind, thread_id, message_id, summary)]))[0]

    async def _notify_all(self, conn: AsyncConnection, wanted: list[_Wanted]) -> list[AfterCommit]:
        """Record each notification on the channels its recipient chose: the rows and their events
        each in one statement for all (a new message's recipients, every new message of a fan-out)."""
        now = self._clock.now()
        chosen = [(w, channels_for(w.recipient.role, w.settings, w.kind)) for w in wanted]
        chosen = [(w, channels) for w, channels in chosen if channels]
        emailed = {id(w) for w, channels in chosen if Channel.EMAIL in channels and self._mailer is not None}
        stored = await store.insert_notifications(
            conn,
            [
                store.NewNotification(
                    firm_id=w.recipient.firm_id,
                    user_id=w.recipient.user_id,
                    kind=w.kind,
                    thread_id=w.thread_id,
                    message_id=w.message_id,
                    summary=w.summary,
                    email_pending=id(w) in emailed,
                )
                for w, _channels in chosen
            ],
            now,
        )
        pushed = [w.recipient.user_id for w, channels in chosen if Channel.PUSH in channels]
        targets = await push_store.subscriptions_of_users(conn, pushed)
        in_app: list[tuple[_Wanted, StoredNotification]] = []
        for (w, channels), notification in zip(chosen, stored, strict=True):
            recipient = w.recipient
            if id(w) in emailed:
                await due_store.schedule(
                    conn,
                    kind=EMAIL_KIND,
                    key=f"notify-email:{recipient.user_id}",
                    due_at=now + self._window,
                    now=now,
                    firm_id=recipient.firm_id,
                    ref_id=recipient.user_id,
                    keep_earlier=True,
                )
            if Channel.SMS in channels and w.settings.phone and self._sms is not None:
                await due_store.schedule(
                    conn,
                    kind=SMS_KIND,
                    due_at=now,
                    now=now,
                    firm_id=recipient.firm_id,
                    ref_id=notification.value.id,
                    payload={"to": w.settings.phone, "text": self._sms_text(notification)},
                )
            if Channel.PUSH in channels:
                data = self._push_payload(notification)
                for target in targets.get(recipient.user_id, []):
                    await due_store.schedule(
                        conn,
                        kind=PUSH_KIND,
                        due_at=now,
                        now=now,
                        firm_id=recipient.firm_id,
                        ref_id=target.id,
                        payload={"data": data},
                    )
            if Channel.IN_APP in channels:
                in_app.append((w, notification))
        records = await event_store.append_events(
            conn,
            [
                event_store.NewEvent(
                    firm_id=w.recipient.firm_id,
                    type=EVENT,
                    thread_id=n.value.thread_id,
                    user_id=n.user_id,
                    ref_id=n.value.id,
                )
                for w, n in in_app
            ],
            now,
        )
        # Each caller gets its own effect back: nothing for a recipient without the in-app channel.
        effects = {
            id(w): _publisher(self._broker, notification_event(record, n.user_id, n.value))
            for (w, n), record in zip(in_app, records, strict=True)
        }
        return [effects.get(id(w), _nothing) for w in wanted]

    # -- new messages, from the event log --

    async def fan_out(self) -> int:
        """Turn new ``message.created`` events into notifications; the count of events read.

        ``FAN_OUT_EVENTS`` at a time, each batch in its own transactions, and sends that arrive
        meanwhile are handled between two batches: a batch's work on the event loop delays them.
        500 events at a time held SQLite's write lock 25 to 30 ms at 140 msgs/s; in workload B at
        289 msgs/s, batches of 100 gave sends a p99 of 46 ms, batches of 30 gave 15 ms (at
        405 msgs/s, 72 and 34 ms) for the same CPU; batches of 15 did no better."""
        read = 0
        while True:
            count, more = await self._fan_out_batch()
            read += count
            if not more:
                return read

    async def _fan_out_batch(self) -> tuple[int, bool]:
        """One batch: the count of events read, and whether more have settled after it.

        What to notify is worked out in a read transaction: the write lock is only taken to store
        the notifications (about 2 ms per message held it before, each tick). The write then checks
        the cursor is still where the read found it (another process may have done the batch
        meanwhile: nothing to do). It joins the sends' group commit: on SQLite its statements then
        run on the event loop's thread, not through the driver's thread one round trip each
        (workload B at 289 msgs/s: 91% of a core and a p99 of 63 ms before, 72% and 40 ms after)."""
        async with self._db.read() as conn:
            settled = await event_store.settled_event_id(conn)
            after = await store.read_cursor(conn, CURSOR)
            through = min(settled, after + FAN_OUT_EVENTS)
            if through <= after:
                return 0, False
            records = await event_store.events_between(conn, after, through)
            created = [r.message_id for r in records if r.type == "message.created" and r.message_id is not None]
            audiences = await store.message_recipients(conn, created)
            # Someone the message mentions already has the mention notification: not a second one.
            # Read after the audiences, with no upper bound: an edit that mentions a teammate makes
            # them a participant and writes the mention event in one transaction, so whoever the
            # audiences saw join, this sees mentioned, even past this batch or what has settled.
            mentioned = await event_store.mentions_since(conn, after, created)
            told = [
                [r for r in recipients if (message_id, r.user_id) not in mentioned]
                for message_id, (_thread, _summary, recipients) in zip(created, audiences, strict=True)
            ]
            # Everyone's settings in one statement, not one per message.
            settings = await store.settings_for(conn, sorted({r.user_id for recipients in told for r in recipients}))
            wanted = [
                _Wanted(
                    recipient,
                    settings.get(recipient.user_id, store.Settings(phone=None, channels={})),
                    NotificationKind.NEW_MESSAGE,
                    thread_id,
                    message_id,
                    summary,
                )
                for message_id, (thread_id, summary, _everyone), recipients in zip(
                    created, audiences, told, strict=True
                )
                for recipient in recipients
            ]
        async with self._db.write_batched() as conn:
            if await store.lock_cursor(conn, CURSOR) != after:
                return 0, False
            after_commit = await self._notify_all(conn, wanted)
            await store.set_cursor(conn, CURSOR, through)
        for effect in after_commit:
            effect()
        return len(records), through < settled

    # -- deliveries (leased due work) --

    async def deliver_email(self, item: DueItem, now: datetime) -> None:
        assert item.ref_id is not None
        assert self._mailer is not None
        user_id = item.ref_id
        async with self._db.read() as conn:
            contact = await store.user_contact(conn, user_id)
            pending = await store.pending_emails(conn, user_id, now)
            connected = await store.is_connected(conn, user_id, now - PRESENCE_STALE)
        skipped = [n for n in pending if contact is None or connected or n.read]
        to_send = [n for n in pending if n not in skipped]
        if to_send and contact is not None:
            await self._mailer.send(self._email(contact, to_send))
        async with self._db.write() as conn:
            await store.set_email_state(conn, [n.id for n in skipped], "skipped")
            await store.set_email_state(conn, [n.id for n in to_send], "sent")

    async def deliver_sms(self, item: DueItem, now: datetime) -> None:
        assert self._sms is not None
        await self._sms.send(str(item.payload["to"]), str(item.payload["text"]))

    def _email(self, contact: Recipient, items: list[EmailItem]) -> Email:
        threads: dict[int | None, list[EmailItem]] = {}
        for item in items:
            threads.setdefault(item.thread_id, []).append(item)
        count = len(items)
        subject = (
            f"{items[0].summary} in “{items[0].thread_subject}”"
            if count == 1 and items[0].thread_subject
            else f"{count} new notifications"
        )
        text_parts = [f"Hello {contact.name},", ""]
        html_parts = [f"<p>Hello {html.escape(contact.name)},</p>"]
        for thread_id, grouped in threads.items():
            title = grouped[0].thread_subject or "chatd"
            link = f"{self._settings.public_url}/?thread={thread_id}" if thread_id else self._settings.public_url
            text_parts += [f"{title}:", *(f"  - {n.summary}" for n in grouped), f"  Open: {link}", ""]
            entries = "".join(f"<li>{html.escape(n.summary)}</li>" for n in grouped)
            anchor = f'<a href="{html.escape(link)}">Open the thread</a>'
            html_parts.append(f"<h3>{html.escape(title)}</h3><ul>{entries}</ul><p>{anchor}</p>")
        text_parts.append("You get this email because you were not online; change it in your notification settings.")
        return Email(to=contact.email, subject=subject, text="\n".join(text_parts), html="".join(html_parts))

    def _push_payload(self, stored: StoredNotification) -> str:
        """What the service worker shows: JSON, encrypted for each subscription on the way."""
        value = stored.value
        return msgspec.json.encode(
            {
                "title": _PUSH_TITLES[value.kind],
                "body": value.summary,
                "url": self._link(value.thread_id),
                "kind": value.kind.value,
                "notification_id": value.id,
                "thread_id": value.thread_id,
            }
        ).decode()

    def _sms_text(self, stored: StoredNotification) -> str:
        link = self._link(stored.value.thread_id) if stored.value.thread_id else ""
        return f"{stored.value.summary} {link}".strip()[:300]

    def _link(self, thread_id: int | None) -> str:
        return f"{self._settings.public_url}/?thread={thread_id}" if thread_id else self._settings.public_url

    # -- presence: who is connected, so they are not emailed, and shown online to staff --

    async def session_opened(self, user: User) -> str:
        """Record a connected session; the id to pass to ``session_closed``. The user's first
        session, on any process, makes them ``online``. Sessions opening together (a reconnect
        storm) are recorded in one transaction."""
        return await self._opened.call(user)

    async def session_closed(self, presence_id: str, user: User) -> None:
        """Forget a session; a failure here only leaves a row that goes stale (logged, not raised).
        The user's last session, on any process, makes them ``offline``."""
        try:
            await self._closed.call((presence_id, user))
        except Exception:
            logger.warning("could not record the end of session %s", presence_id, exc_info=True)

    async def _record_opened(self, users: list[User]) -> list[str]:
        presence_ids = [uuid.uuid4().hex for _ in users]
        now = self._clock.now()
        async with self._db.write() as conn:
            await store.sessions_opened(
                conn, [(p, u.id) for p, u in zip(presence_ids, users, strict=True)], self.process_id, now
            )
            counts = await store.live_session_counts(conn, list({u.id for u in users}), now - PRESENCE_STALE)
        opened = Counter(u.id for u in users)
        for user in {u.id: u for u in users}.values():
            if counts.get(user.id, 0) == opened[user.id]:  # none before these
                self._broker.publish(presence_event(user, online=True))
        return presence_ids

    async def _record_closed(self, closed: list[tuple[str, User]]) -> list[None]:
        async with self._db.write() as conn:
            await store.sessions_closed(conn, [presence_id for presence_id, _ in closed])
            users = {u.id: u for _, u in closed}
            counts = await store.live_session_counts(conn, list(users), self._clock.now() - PRESENCE_STALE)
        for user in users.values():
            if counts.get(user.id, 0) == 0:
                self._broker.publish(presence_event(user, online=False))
        return [None] * len(closed)

    async def refresh_presence(self) -> None:
        now = self._clock.now()
        async with self._db.write() as conn:
            await store.refresh_sessions(conn, self.process_id, now, now - PRESENCE_STALE)

    # -- what users do with their notifications and settings --

    async def recent(
        self, user_id: int, *, unread_only: bool, before_id: int | None, limit: int
    ) -> list[NotificationValue]:
        async with self._db.read() as conn:
            return await store.list_for_user(conn, user_id, unread_only=unread_only, before_id=before_id, limit=limit)

    async def mark_read(self, user_id: int, ids: list[int] | None) -> int:
        async with self._db.write() as conn:
            return await store.mark_read(conn, user_id, ids, self._clock.now())

    async def settings_of(self, user_id: int, role: Role) -> dict[str, object]:
        async with self._db.read() as conn:
            settings = await store.get_settings(conn, user_id)
        return _shown(role, settings)

    async def change_settings(
        self,
        user_id: int,
        role: Role,
        *,
        phone: str | None,
        clear_phone: bool,
        channels: dict[str, list[str]],
        copy_to_client: list[str] | None = None,
    ) -> dict[str, object]:
        if copy_to_client and role.is_client:
            raise errors.BadRequest("copies to clients are for staff messages")
        async with self._db.write() as conn:
            current = await store.get_settings(conn, user_id)
            merged = store.Settings(
                phone=None if clear_phone else (phone or current.phone),
                channels={**current.channels, **channels},
                copy_to_client=current.copy_to_client if copy_to_client is None else copy_to_client,
            )
            await store.save_settings(conn, user_id, merged, self._clock.now())
        return _shown(role, merged)

    @property
    def delivery_kinds(self) -> list[str]:
        return [EMAIL_KIND, SMS_KIND, PUSH_KIND]

    @property
    def email_enabled(self) -> bool:
        return self._mailer is not None

    @property
    def sms_enabled(self) -> bool:
        return self._sms is not None


@dataclass(frozen=True, slots=True, eq=False)
class _Wanted:
    """A notification to record: who, with their settings, about what."""

    recipient: Recipient
    settings: store.Settings
    kind: NotificationKind
    thread_id: int | None
    message_id: int | None
    summary: str


def _nothing() -> None:
    return None


def _publisher(broker: Broker, event: BusEvent) -> AfterCommit:
    return lambda: broker.publish(event)


def _shown(role: Role, settings: store.Settings) -> dict[str, object]:
    return {"phone": settings.phone, "channels": effective(role, settings), "copy_to_client": settings.copy_to_client}
