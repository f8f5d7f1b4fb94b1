"""Message templates and quick replies: saved, checked, previewed and rendered for a client.

A template belongs to the firm (owners and managers manage it) or to one staff member. A quick
reply is a template with a ``shortcut``, expanded by ``/shortcut`` in the composer. Clients and
bots never see templates.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from chatd import errors, richtext, templating
from chatd.clock import Clock
from chatd.config import Settings
from protocol.values import Role, Template, TemplateField
from storage import Database
from storage import NotFound as StorageNotFound
from storage import signatures as signature_store
from storage import templates as store
from storage import threads as thread_store
from storage.directory import Account
from storage.templates import ClientCard, TemplateDraft

STAFF_ROLES = (Role.OWNER, Role.MANAGER, Role.STAFF)
MANAGING_ROLES = (Role.OWNER, Role.MANAGER)
MAX_INSTRUCTION_CHARS = 2_000
MAX_FIELDS = 20
_SHORTCUT = re.compile(r"^[a-z0-9][a-z0-9_-]{0,49}$")


@dataclass(frozen=True, slots=True)
class Rendered:
    subject: str
    body: str
    # Variables the template uses that this client or these fill-ins do not have.
    unknown: list[str]
    # Required fill-in fields left blank.
    missing_fields: list[str]

    def check_complete(self) -> None:
        """Before sending: every required fill-in given, every variable known."""
        if self.missing_fields:
            raise errors.BadRequest(f"fill in: {', '.join(self.missing_fields)}")
        if self.unknown:
            raise errors.BadRequest(f"the template uses unknown values: {', '.join(self.unknown)}")


class Templates:
    def __init__(self, db: Database, clock: Clock, settings: Settings) -> None:
        self._db = db
        self._clock = clock
        self._settings = settings

    # -- manage --

    async def available(
        self, account: Account, *, shortcut_prefix: str | None = None
    ) -> tuple[list[Template], int | None]:
        _check_staff(account)
        user = account.user
        async with self._db.read() as conn:
            found = await store.usable_templates(conn, user.firm_id, user.id, shortcut_prefix=shortcut_prefix)
            default = await store.default_template_id(conn, user.id)
        return found, default

    async def create(self, account: Account, *, scope: str, draft: TemplateDraft) -> Template:
        _check_staff(account)
        owner_id = self._owner_for(account, scope)
        draft = self._checked(draft)
        user = account.user
        async with self._db.write() as conn:
            await self._check_shortcut(conn, account, draft.shortcut, None)
            return await store.insert_template(
                conn, firm_id=user.firm_id, owner_id=owner_id, draft=draft, now=self._clock.now()
            )

    async def update(self, account: Account, template_id: int, draft: TemplateDraft) -> Template:
        draft = self._checked(draft)
        async with self._db.write() as conn:
            await self._changeable(conn, account, template_id)
            await self._check_shortcut(conn, account, draft.shortcut, template_id)
            return await store.update_template(conn, template_id, draft, self._clock.now())

    async def delete(self, account: Account, template_id: int) -> None:
        async with self._db.write() as conn:
            await self._changeable(conn, account, template_id)
            await store.delete_template(conn, template_id)

    async def set_default(self, account: Account, template_id: int | None) -> None:
        """The template the caller's composer starts new threads with (None: no default)."""
        _check_staff(account)
        async with self._db.write() as conn:
            if template_id is not None:
                await self._usable(conn, account, template_id)
            await store.set_default_template(conn, account.user.id, template_id)

    async def set_client_fields(self, account: Account, client_account_id: int, custom_fields: dict[str, str]) -> None:
        """The firm's custom fields on a client card, used as ``{{ client.fields.<name> }}``."""
        _check_staff(account)
        async with self._db.write() as conn:
            if client_account_id not in await store.client_cards(conn, account.user.firm_id, [client_account_id]):
                raise errors.NotFound(f"client account {client_account_id} not found")
            await store.set_custom_fields(conn, client_account_id, custom_fields)

    # -- use --

    async def preview(
        self,
        account: Account,
        *,
        template_id: int | None,
        subject: str | None,
        body: str | None,
        client_account_id: int | None,
        thread_id: int | None,
        fields: dict[str, str],
    ) -> tuple[Rendered, str, Template | None]:
        """Render a saved template, or unsaved text, for a client (given directly or by a thread);
        returns the rendering, its HTML and the template. Unknown values are named, never fatal."""
        _check_staff(account)
        async with self._db.read() as conn:
            template = await self._usable(conn, account, template_id) if template_id is not None else None
            if thread_id is not None:
                client_account_id = await self._thread_client(conn, account, thread_id)
            context = (await self.contexts(conn, account, [client_account_id]))[client_account_id]
        if template is None:
            rendered = self.render(subject or "", body or "", [], context, fields)
        else:
            rendered = self.render(template.subject, template.body, template.fields, context, fields)
        return rendered, richtext.render(rendered.body).html, template

    async def for_new_thread(
        self, account: Account, *, template_id: int | None, client_account_id: int | None, fields: dict[str, str]
    ) -> Rendered | None:
        """A new thread's subject and body from ``template_id``, or else from the caller's default
        template (None when they have none), rendered for the client; every required fill-in must be
        given and every variable known, else bad_request."""
        async with self._db.read() as conn:
            if template_id is None:
                if account.user.role not in STAFF_ROLES:
                    return None
                template_id = await store.default_template_id(conn, account.user.id)
                if template_id is None:
                    return None
            template = await self._usable(conn, account, template_id)
            context = (await self.contexts(conn, account, [client_account_id]))[client_account_id]
        rendered = self.render(template.subject, template.body, template.fields, context, fields)
        rendered.check_complete()
        return rendered

    async def expand(self, account: Account, *, shortcut: str, thread_id: int | None) -> tuple[Rendered, Template]:
        """A quick reply's text for the composer, rendered for the thread's client."""
        shortcut = shortcut.removeprefix("/")
        found = [t for t in (await self.available(account, shortcut_prefix=shortcut))[0] if t.shortcut == shortcut]
        if not found:
            raise errors.NotFound(f"no quick reply /{shortcut}")
        template = next((t for t in found if t.owner_id is not None), found[0])  # a personal one wins
        rendered, _html, _ = await self.preview(
            account,
            template_id=template.id,
            subject=None,
            body=None,
            client_account_id=None,
            thread_id=thread_id,
            fields={},
        )
        return rendered, template

    def render(
        self,
        subject: str,
        body: str,
        template_fields: list[TemplateField],
        context: dict[str, Any],
        fill: dict[str, str],
    ) -> Rendered:
        full = {**context, "fields": {f.name: fill.get(f.name, "") for f in template_fields} | fill}
        subject_text, subject_unknown = templating.render(subject, full, "subject")
        body_text, body_unknown = templating.render(body, full, "body")
        missing = [f.name for f in template_fields if f.required and not fill.get(f.name, "").strip()]
        unknown = list(dict.fromkeys([*subject_unknown, *body_unknown]))
        return Rendered(subject=" ".join(subject_text.split()), body=body_text, unknown=unknown, missing_fields=missing)

    async def template_for(self, conn: AsyncConnection, account: Account, template_id: int) -> Template:
        return await self._usable(conn, account, template_id)

    async def contexts(
        self, conn: AsyncConnection, account: Account, client_account_ids: list[int | None]
    ) -> dict[int | None, dict[str, Any]]:
        """The variables for each client (None: no client), as the caller would send."""
        user = account.user
        now = self._clock.now()
        base = {
            "firm": {
                "name": await store.firm_name(conn, user.firm_id),
                "signature": (await signature_store.firm_signature(conn, user.firm_id)).signature,
            },
            "staff": {
                "name": user.name,
                "email": user.email,
                "signature": await signature_store.staff_signature(conn, user.id),
            },
            "today": now.date(),
            "now": now,
        }
        wanted = [i for i in client_account_ids if i is not None]
        cards = await store.client_cards(conn, user.firm_id, wanted) if wanted else {}
        result: dict[int | None, dict[str, Any]] = {}
        for account_id in client_account_ids:
            if account_id is None:
                result[None] = base
                continue
            card = cards.get(account_id)
            if card is None:
                raise errors.NotFound(f"client account {account_id} not found")
            result[account_id] = {**base, "client": _client(card)}
        return result

    # -- helpers --

    def _owner_for(self, account: Account, scope: str) -> int | None:
        if scope == "personal":
            return account.user.id
        if scope == "firm":
            if account.user.role not in MANAGING_ROLES:
                raise errors.BadRequest("only owners and managers make firm-wide templates")
            return None
        raise errors.BadRequest('scope is "firm" or "personal"')

    def _checked(self, draft: TemplateDraft) -> TemplateDraft:
        name = draft.name.strip()
        if not name or len(name) > 200:
            raise errors.BadRequest("a template needs a name of 1 to 200 characters")
        if not draft.body.strip():
            raise errors.BadRequest("a template needs a body")
        if len(draft.body) > self._settings.max_body_chars:
            raise errors.TooLarge(f"body is over {self._settings.max_body_chars} characters")
        if len(draft.subject) > 200:
            raise errors.BadRequest("subject is over 200 characters")
        if len(draft.instruction) > MAX_INSTRUCTION_CHARS:
            raise errors.BadRequest(f"instruction is over {MAX_INSTRUCTION_CHARS} characters")
        if draft.shortcut is not None and not _SHORTCUT.match(draft.shortcut):
            raise errors.BadRequest("a shortcut is 1 to 50 lowercase letters, digits, - or _")
        names = [f.name for f in draft.fields]
        if len(names) > MAX_FIELDS or len(set(names)) != len(names):
            raise errors.BadRequest(f"at most {MAX_FIELDS} fill-in fields, each with its own name")
        templating.check(draft.subject, "subject")
        templating.check(draft.body, "body")
        return TemplateDraft(
            name=name,
            shortcut=draft.shortcut,
            subject=draft.subject.strip(),
            body=draft.body,
            instruction=draft.instruction.strip(),
            fields=draft.fields,
        )

    async def _check_shortcut(
        self, conn: AsyncConnection, account: Account, shortcut: str | None, template_id: int | None
    ) -> None:
        user = account.user
        if shortcut is not None and await store.shortcut_taken(conn, user.firm_id, user.id, shortcut, template_id):
            raise errors.Conflict(f"/{shortcut} is already a quick reply you can use")

    async def _usable(self, conn: AsyncConnection, account: Account, template_id: int) -> Template:
        _check_staff(account)
        found = await store.usable_template(conn, account.user.firm_id, account.user.id, template_id)
        if found is None:
            raise errors.NotFound(f"template {template_id} not found")
        return found

    async def _changeable(self, conn: AsyncConnection, account: Account, template_id: int) -> Template:
        found = await self._usable(conn, account, template_id)
        mine = found.owner_id == account.user.id
        firm_manager = found.owner_id is None and account.user.role in MANAGING_ROLES
        if not (mine or firm_manager):
            raise errors.NotFound(f"template {template_id} not found among those you may change")
        return found

    async def _thread_client(self, conn: AsyncConnection, account: Account, thread_id: int) -> int | None:
        try:
            facts = await thread_store.visible_thread_facts(conn, account.viewer, thread_id)
        except StorageNotFound:
            raise errors.NotFound(f"thread {thread_id} not found") from None
        return facts.client_account_id


def _check_staff(account: Account) -> None:
    if account.user.role not in STAFF_ROLES:
        raise errors.NotFound("templates are for staff")


def _client(card: ClientCard) -> dict[str, Any]:
    return {"id": card.id, "name": card.name, "fields": card.custom_fields}
