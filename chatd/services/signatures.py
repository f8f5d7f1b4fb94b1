"""Signatures: the firm's (legal mentions, set by owners) and each staff member's, composed by a
template the owner controls and appended, in Markdown, to the messages staff send.

The signature is appended on the server when the message is sent, so every client (web, API, bots
acting for staff) gets it without doing anything; the sender may leave it out per message
(``signature: false``). Notes, client and bot messages are never signed.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from chatd import errors, templating
from chatd.clock import Clock
from chatd.services.templates import STAFF_ROLES
from protocol.values import MessageKind, Role
from storage import Database
from storage import signatures as store
from storage.directory import Account

DEFAULT_TEMPLATE = "{{ staff.signature }}\n\n{{ firm.signature }}"
VARIABLES = frozenset({"staff", "firm", "today", "now"})
MAX_SIGNATURE_CHARS = 2_000


class Signatures:
    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    async def mine(self, account: Account) -> dict[str, str]:
        """The caller's own signature and the one their messages get (staff only)."""
        _check_staff(account)
        async with self._db.read() as conn:
            return {
                "signature": await store.staff_signature(conn, account.user.id),
                "composed": await self.composed(conn, account),
            }

    async def set_mine(self, account: Account, signature: str) -> dict[str, str]:
        _check_staff(account)
        _check_length(signature)
        async with self._db.write() as conn:
            await store.set_staff_signature(conn, account.user.id, signature.strip(), self._clock.now())
        return await self.mine(account)

    async def firm(self, account: Account) -> dict[str, Any]:
        """The firm's signature and composing template (owners only)."""
        _check_owner(account)
        async with self._db.read() as conn:
            found = await store.firm_signature(conn, account.user.firm_id)
        return {"signature": found.signature, "template": found.template or DEFAULT_TEMPLATE}

    async def set_firm(self, account: Account, signature: str, template: str | None) -> dict[str, Any]:
        """Set the firm's signature and, unless None, the template composing every staff signature;
        a template that does not parse or names other variables is refused, nothing stored."""
        _check_owner(account)
        _check_length(signature)
        if template is not None:
            _check_length(template)
            templating.check(template, "signature template", VARIABLES)
        async with self._db.write() as conn:
            kept = (
                template if template is not None else (await store.firm_signature(conn, account.user.firm_id)).template
            )
            await store.set_firm_signature(conn, account.user.firm_id, signature.strip(), kept, self._clock.now())
        return await self.firm(account)

    async def composed(self, conn: AsyncConnection, account: Account) -> str:
        """The Markdown signature appended to the account's messages ("" for none, and for non-staff)."""
        if account.user.role not in STAFF_ROLES:
            return ""
        parts = await store.signature_parts(conn, account.user.firm_id, account.user.id)
        found = parts.firm_signature
        now = self._clock.now()
        context = {
            "staff": {"name": account.user.name, "email": account.user.email, "signature": parts.staff_signature},
            "firm": {"name": parts.firm_name, "signature": found.signature},
            "today": now.date(),
            "now": now,
        }
        text, _unknown = templating.render(found.template or DEFAULT_TEMPLATE, context, "signature template", VARIABLES)
        return text.strip()

    def signs(self, account: Account, kind: MessageKind) -> bool:
        """Whether such a message gets a signature: staff messages only, never notes."""
        return kind is MessageKind.MESSAGE and account.user.role in STAFF_ROLES

    async def for_message(self, conn: AsyncConnection, account: Account, kind: MessageKind, wanted: bool) -> str:
        """The signature a message gets, when wanted ("" when it gets none)."""
        if not wanted or not self.signs(account, kind):
            return ""
        return await self.composed(conn, account)

    async def sign(self, account: Account, body: str, kind: MessageKind, wanted: bool) -> str:
        """The body with the sender's signature appended, as ``for_message`` decides."""
        async with self._db.read() as conn:
            return append(body, await self.for_message(conn, account, kind, wanted))


def append(body: str, signature: str) -> str:
    if not signature:
        return body
    return f"{body.rstrip()}\n\n{signature}" if body.strip() else signature


def _check_length(text: str) -> None:
    if len(text) > MAX_SIGNATURE_CHARS:
        raise errors.BadRequest(f"a signature is at most {MAX_SIGNATURE_CHARS} characters")


def _check_staff(account: Account) -> None:
    if account.user.role not in STAFF_ROLES:
        raise errors.NotFound("signatures are for staff")


def _check_owner(account: Account) -> None:
    if account.user.role is not Role.OWNER:
        raise errors.NotFound("not found")
