"""Emails that must go out as written (reply reminders): queued as leased due work in the caller's
transaction, sent over SMTP when due, retried with backoff, failures listed for staff with the
notification deliveries (``GET /api/deliveries``)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from chatd.config import Settings
from chatd.mailer import Email, Mailer
from storage import due as due_store
from storage.due import DueItem

MAIL_KIND = "mail.send"


class Outbox:
    def __init__(self, settings: Settings) -> None:
        self._mailer = Mailer(settings.smtp_url, settings.mail_from) if settings.smtp_url else None

    @property
    def enabled(self) -> bool:
        return self._mailer is not None

    async def queue(self, conn: AsyncConnection, *, firm_id: int, ref_id: int, email: Email, now: datetime) -> None:
        await due_store.schedule(
            conn,
            kind=MAIL_KIND,
            due_at=now,
            now=now,
            firm_id=firm_id,
            ref_id=ref_id,
            payload={"to": email.to, "subject": email.subject, "text": email.text, "html": email.html},
        )

    async def deliver(self, item: DueItem, now: datetime) -> None:
        assert self._mailer is not None
        payload = item.payload
        await self._mailer.send(
            Email(to=payload["to"], subject=payload["subject"], text=payload["text"], html=payload["html"])
        )
