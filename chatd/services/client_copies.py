"""Copies of staff messages to the thread's clients by email or SMS (the ``copy_to`` send option,
or the author's default in their notification settings).

The copy is written as due work in the transaction of the message, one row per client and channel,
and delivered like notifications: leased, retried with backoff, failed for good after the last
attempt and listed for staff (``/api/deliveries``). Notes and private messages are never copied;
clients do not copy their own messages. The message is read again when the copy goes out, so a
message deleted meanwhile is not sent.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from chatd import errors
from chatd.config import Settings
from chatd.mailer import Email, mailer_from
from chatd.sms import gateway_from
from protocol.values import CopyChannel, Message, MessageKind
from storage import Database
from storage import due as due_store
from storage import messages as message_store
from storage import notifications as notification_store
from storage import templates as template_store
from storage import threads as thread_store
from storage.directory import Account
from storage.due import DueItem
from storage.threads import ThreadFacts

EMAIL_KIND = "copy.email"
SMS_KIND = "copy.sms"
MAX_SMS_CHARS = 600


class ClientCopies:
    def __init__(self, db: Database, settings: Settings) -> None:
        self._db = db
        self._settings = settings
        self._mailer = mailer_from(settings)
        self._sms = gateway_from(settings)

    @property
    def email_enabled(self) -> bool:
        return self._mailer is not None

    @property
    def sms_enabled(self) -> bool:
        return self._sms is not None

    def check(
        self, account: Account, facts: ThreadFacts, requested: Sequence[CopyChannel] | None, kind: MessageKind
    ) -> None:
        """Refuse copies asked for that cannot be made: from a client, without a client in the
        thread, or on a channel the server has no provider for (notes ask in vain, silently)."""
        if not requested:
            return
        if account.user.role.is_client:
            raise errors.BadRequest("copies to clients are for staff messages")
        if kind is not MessageKind.MESSAGE:
            return
        if facts.client_account_id is None:
            raise errors.BadRequest("this thread has no client to send a copy to")
        if CopyChannel.EMAIL in requested and self._mailer is None:
            raise errors.BadRequest("copies by email need an SMTP server (CHATD_SMTP_URL)")
        if CopyChannel.SMS in requested and self._sms is None:
            raise errors.BadRequest("copies by SMS need an SMS provider (CHATD_SMS_URL)")

    def still_possible(
        self, facts: ThreadFacts, requested: Sequence[CopyChannel] | None
    ) -> tuple[CopyChannel, ...] | None:
        """What a copy_to checked earlier (a scheduled message's) still allows when it is sent: the
        thread may have lost its client, the server a provider; the message goes out anyway."""
        if requested is None:
            return None
        if facts.client_account_id is None:
            return ()
        enabled = {CopyChannel.EMAIL: self.email_enabled, CopyChannel.SMS: self.sms_enabled}
        return tuple(c for c in requested if enabled[c])

    async def schedule(
        self,
        conn: AsyncConnection,
        account: Account,
        facts: ThreadFacts,
        message: Message,
        requested: tuple[CopyChannel, ...] | None,
        now: datetime,
    ) -> None:
        """In the message's transaction: a due row per client and channel asked for (or defaulted)."""
        if account.user.role.is_client:
            self.check(account, facts, requested, message.kind)
            return
        if requested is None:
            if self._mailer is None and self._sms is None:
                return  # no provider: whatever the author's defaults, no copy can go out
            settings = await notification_store.get_settings(conn, account.user.id)
            channels = {CopyChannel(c) for c in settings.copy_to_client}
        else:
            channels = set(requested)
        if not channels or message.kind is not MessageKind.MESSAGE or message.private_to is not None:
            return
        self.check(account, facts, requested, message.kind)
        if facts.client_account_id is None:
            return
        for contact in await notification_store.client_contacts(conn, facts.client_account_id):
            if CopyChannel.EMAIL in channels and self._mailer is not None:
                await self._add(conn, EMAIL_KIND, facts, message, contact.email, now)
            if CopyChannel.SMS in channels and self._sms is not None and contact.phone:
                await self._add(conn, SMS_KIND, facts, message, contact.phone, now)

    async def _add(
        self, conn: AsyncConnection, kind: str, facts: ThreadFacts, message: Message, to: str, now: datetime
    ) -> None:
        await due_store.schedule(
            conn, kind=kind, due_at=now, now=now, firm_id=facts.firm_id, ref_id=message.id, payload={"to": to}
        )

    async def deliver_email(self, item: DueItem, now: datetime) -> None:
        assert self._mailer is not None
        found = await self._message(item)
        if found is None:
            return
        message, author, subject, firm = found
        link = self._link(message.thread_id)
        text = f"{author} ({firm}) wrote:\n\n{message.body}\n\nAnswer in the conversation: {link}\n"
        page = (
            f"<p>{html.escape(author)} ({html.escape(firm)}) wrote:</p>{message.html}"
            f'<p><a href="{html.escape(link)}">Answer in the conversation</a></p>'
        )
        await self._mailer.send(Email(to=str(item.payload["to"]), subject=subject, text=text, html=page))

    async def deliver_sms(self, item: DueItem, now: datetime) -> None:
        assert self._sms is not None
        found = await self._message(item)
        if found is None:
            return
        message, author, _subject, _firm = found
        link = self._link(message.thread_id)
        text = f"{author}: {' '.join(message.body.split())}"
        if len(text) > MAX_SMS_CHARS:
            text = text[: MAX_SMS_CHARS - 1] + "…"
        await self._sms.send(str(item.payload["to"]), f"{text} {link}")

    async def _message(self, item: DueItem) -> tuple[Message, str, str, str] | None:
        """The message, its author's name, the thread's subject and the firm's name; None once the
        message is deleted (it is not sent then)."""
        assert item.ref_id is not None
        assert item.firm_id is not None
        async with self._db.read() as conn:
            found = (await message_store.messages_by_ids(conn, [item.ref_id])).get(item.ref_id)
            if found is None or found.value.deleted_at is not None:
                return None
            author = await notification_store.user_contact(conn, found.value.author_id)
            thread = (await thread_store.threads_by_ids(conn, [found.value.thread_id]))[found.value.thread_id]
            firm = await template_store.firm_name(conn, item.firm_id)
        return found.value, author.name if author else firm, thread.subject, firm

    def _link(self, thread_id: int) -> str:
        return f"{self._settings.public_url}/?thread={thread_id}"
