"""Reply reminders: staff turn them on per thread; when the client has not answered the firm's last
message after ``interval_days``, the client's contacts get an email reminding them of it, up to
``count`` times. They stop when the client answers, the count is reached, the thread leaves the
Inbox (archived, trash, spam) or they are turned off; a new staff message or the thread coming back
to the Inbox starts them over. Each reminder is a due_work row handled in one transaction with the
emails it queues and the ``reminder`` notification of the staff member in charge (the thread's
assignee, else whoever turned reminders on), so it is sent once whatever the number of processes."""

from __future__ import annotations

import html
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from chatd import errors
from chatd.bus import BusEvent
from chatd.clock import Clock
from chatd.config import Settings
from chatd.mailer import Email
from chatd.services.conversations import Conversations, check_may_write
from chatd.services.notifications import Notifications
from chatd.services.outbox import Outbox
from protocol import actions
from protocol.values import Message, MessageKind, NotificationKind, ThreadState, format_time
from scheduler.due import AfterCommit, Again, Done, Failed, Outcome
from storage import Database
from storage import directory as directory_store
from storage import due as due_store
from storage import notifications as contact_store
from storage import reminders as store
from storage import threads as thread_store
from storage.directory import Account
from storage.due import DueItem
from storage.reminders import Reminder, StaffMessage
from storage.threads import ThreadFacts

DUE_KIND = "reply.reminder"
DEFAULT_INTERVAL_DAYS = 3
DEFAULT_COUNT = 1

_STOPS = (actions.Archive, actions.Trash, actions.Spam)
_RESTARTS = (actions.Unarchive, actions.Restore, actions.NotSpam)


class Reminders:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        settings: Settings,
        conversations: Conversations,
        outbox: Outbox,
        notifications: Notifications,
    ) -> None:
        self._db = db
        self._clock = clock
        self._settings = settings
        self._conversations = conversations
        self._outbox = outbox
        self._notifications = notifications

    # -- what staff do --

    async def configure(
        self, account: Account, *, thread_id: int, enabled: bool, interval_days: int, count: int
    ) -> dict[str, Any]:
        check_may_configure(account)
        now = self._clock.now()
        async with self._db.write() as conn:
            facts = await self._conversations.visible_thread(conn, account, thread_id)
            if facts.client_account_id is None:
                raise errors.BadRequest("the thread has no client to remind")
            await store.set_reminder(
                conn,
                thread_id=thread_id,
                firm_id=facts.firm_id,
                enabled=enabled,
                interval_days=interval_days,
                count=count,
                user_id=account.user.id,
                now=now,
            )
            await self._arm(conn, thread_id, now)
            return await _describe(conn, thread_id)

    async def get(self, account: Account, *, thread_id: int) -> dict[str, Any]:
        if account.user.role.is_client:
            raise errors.Forbidden("reply reminders are for staff")
        async with self._db.read() as conn:
            await self._conversations.visible_thread(conn, account, thread_id)
            return await _describe(conn, thread_id)

    async def resend(self, account: Account, *, thread_id: int) -> dict[str, Any]:
        """Remind the client now, once, of the firm's last message (whether reminders are on or not)."""
        check_may_configure(account)
        now = self._clock.now()
        async with self._db.write() as conn:
            facts = await self._conversations.visible_thread(conn, account, thread_id)
            if facts.client_account_id is None:
                raise errors.BadRequest("the thread has no client to remind")
            last = await store.last_staff_message(conn, thread_id)
            if last is None:
                raise errors.BadRequest("the firm has written nothing in this thread to remind the client of")
            if await store.client_answered(conn, thread_id, last.id):
                raise errors.Conflict("the client has answered the last message")
            await due_store.schedule(
                conn,
                kind=DUE_KIND,
                key=store.resend_key(thread_id),
                due_at=now,
                now=now,
                firm_id=facts.firm_id,
                ref_id=thread_id,
                payload={"now": True},
            )
            return await _describe(conn, thread_id)

    # -- what starts and stops them --

    async def on_message(
        self, conn: AsyncConnection, account: Account, facts: ThreadFacts, message: Message, now: datetime
    ) -> list[BusEvent]:
        """A client's message stops them; a new message of the firm's starts them over."""
        if (
            not facts.reminders
            or message.kind is not MessageKind.MESSAGE
            or message.private_to is not None
            or message.automatic
        ):
            return []
        if account.user.role.is_client:
            await due_store.cancel(conn, key=store.due_key(facts.id), now=now)
        else:
            await self._arm(conn, facts.id, now)
        return []

    async def on_thread_action(
        self, conn: AsyncConnection, threads: list[ThreadFacts], action: actions.Action, now: datetime
    ) -> None:
        """Leaving the Inbox stops them; coming back (unarchived, restored, not spam) arms them as new."""
        if not isinstance(action, _STOPS + _RESTARTS):
            return
        for facts in threads:
            if isinstance(action, _STOPS):
                await due_store.cancel(conn, key=store.due_key(facts.id), now=now)
            elif (reminder := await store.get_reminder(conn, facts.id)) is not None and reminder.enabled:
                await self._arm(conn, facts.id, now)

    async def _arm(self, conn: AsyncConnection, thread_id: int, now: datetime) -> None:
        """(Re)start the count for the firm's last message, due ``interval_days`` from now; or stop
        when there is nothing to remind of."""
        key = store.due_key(thread_id)
        reminder = await store.get_reminder(conn, thread_id, for_update=True)
        facts = (await thread_store.facts_by_ids(conn, [thread_id])).get(thread_id)
        last = await store.last_staff_message(conn, thread_id)
        if (
            reminder is None
            or not reminder.enabled
            or facts is None
            or facts.state != ThreadState.INBOX
            or last is None
            or await store.client_answered(conn, thread_id, last.id)
        ):
            await due_store.cancel(conn, key=key, now=now)
            return
        await store.set_progress(conn, thread_id, message_id=last.id, sent=0)
        await due_store.schedule(
            conn,
            kind=DUE_KIND,
            key=key,
            due_at=now + timedelta(days=reminder.interval_days),
            now=now,
            firm_id=facts.firm_id,
            ref_id=thread_id,
        )

    # -- the due handler --

    async def fire(self, conn: AsyncConnection, item: DueItem, now: datetime) -> Outcome:
        assert item.ref_id is not None
        thread_id, resend = item.ref_id, bool(item.payload.get("now"))
        reminder = await store.get_reminder(conn, thread_id, for_update=True)
        facts = (await thread_store.facts_by_ids(conn, [thread_id])).get(thread_id)
        if facts is None or facts.client_account_id is None:
            return Done()
        if not resend and (reminder is None or not reminder.enabled or facts.state != ThreadState.INBOX):
            return Done()
        last = await store.last_staff_message(conn, thread_id)
        if last is None or await store.client_answered(conn, thread_id, last.id):
            return Done()
        if not self._outbox.enabled:
            return Failed("no SMTP server is configured (CHATD_SMTP_URL): reminders cannot be emailed")
        if not await self._email_contacts(conn, facts, last, now):
            return Failed("the client has no active contact to email")
        if resend or reminder is None:
            told = await self._tell_staff(conn, facts, reminder, last, "A reply reminder was emailed to the client")
            return Done(after_commit=told)
        sent = (reminder.sent if reminder.message_id == last.id else 0) + 1
        await store.set_progress(conn, thread_id, message_id=last.id, sent=sent)
        summary = f"Reply reminder {sent} of {reminder.count} emailed to the client"
        told = await self._tell_staff(conn, facts, reminder, last, summary)
        if sent < reminder.count:
            return Again(now + timedelta(days=reminder.interval_days), after_commit=told)
        return Done(after_commit=told)

    async def _tell_staff(
        self, conn: AsyncConnection, facts: ThreadFacts, reminder: Reminder | None, last: StaffMessage, summary: str
    ) -> list[AfterCommit]:
        """Notify (kind ``reminder``, on the channels they chose) the staff member in charge: the
        thread's assignee, else whoever turned reminders on."""
        user_id = facts.assignee_id or (reminder.updated_by if reminder is not None else None)
        if user_id is None:
            return []
        told = await self._notifications.notify(
            conn,
            user_id=user_id,
            kind=NotificationKind.REMINDER,
            thread_id=facts.id,
            message_id=last.id,
            summary=summary,
        )
        return [told]

    async def _email_contacts(
        self, conn: AsyncConnection, facts: ThreadFacts, last: StaffMessage, now: datetime
    ) -> int:
        assert facts.client_account_id is not None
        queued = 0
        for user_id in await directory_store.client_user_ids(conn, facts.client_account_id):
            contact = await contact_store.user_contact(conn, user_id)
            if contact is None:
                continue
            email = self._email(contact.name, contact.email, facts.id, last)
            await self._outbox.queue(conn, firm_id=facts.firm_id, ref_id=facts.id, email=email, now=now)
            queued += 1
        return queued

    def _email(self, name: str, address: str, thread_id: int, last: StaffMessage) -> Email:
        link = f"{self._settings.public_url}/?thread={thread_id}"
        subject = f"Reminder: {last.firm_name} is waiting for your answer about “{last.thread_subject}”"
        text = (
            f"Hello {name},\n\n{last.author_name} ({last.firm_name}) wrote to you about “{last.thread_subject}” "
            f"and is waiting for your answer:\n\n{last.body}\n\nAnswer here: {link}\n"
        )
        page = (
            f"<p>Hello {html.escape(name)},</p><p>{html.escape(last.author_name)} ({html.escape(last.firm_name)}) "
            f"wrote to you about “{html.escape(last.thread_subject)}” and is waiting for your answer:</p>"
            f'<blockquote>{last.html}</blockquote><p><a href="{html.escape(link)}">Answer</a></p>'
        )
        return Email(to=address, subject=subject, text=text, html=page)


async def _describe(conn: AsyncConnection, thread_id: int) -> dict[str, Any]:
    reminder = await store.get_reminder(conn, thread_id)
    pending = await due_store.pending_by_key(conn, store.due_key(thread_id))
    return {
        "thread_id": thread_id,
        "enabled": reminder is not None and reminder.enabled,
        "interval_days": reminder.interval_days if reminder else DEFAULT_INTERVAL_DAYS,
        "count": reminder.count if reminder else DEFAULT_COUNT,
        "sent": reminder.sent if reminder else 0,
        "message_id": reminder.message_id if reminder else None,
        "next_at": None if pending is None else format_time(pending.due_at),
    }


def check_may_configure(account: Account) -> None:
    check_may_write(account)
    if account.user.role.is_client:
        raise errors.Forbidden("reply reminders are for staff")
