"""Generated emails (retro-planning): "N days before or after a client's event, write template T".

Firms record dated client events (arrival, departure, balance due, option expiry, or kinds of
their own), by HTTP or CSV import. Each firm has one daily due-work row (``genmail.daily``, keyed
per firm) that runs at the hour set in the firm's time zone (its business hours'): for each active
rule it writes one draft per event whose date, moved by the rule's days, falls within the last
``keep_days`` days (so a run missed while chatd was down, or an event recorded late, still gets its
draft), and drops the drafts not sent within ``keep_days``. Drafts are made in the claiming
transaction, one per rule and event (a unique key), so they are made once whatever the number of
processes.

Staff send the drafts of a rule all at once, or open one, edit it and send it: each becomes a new
thread with the client (source ``automatic``), written by the sender.
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import msgspec
from sqlalchemy.ext.asyncio import AsyncConnection

from chatd import errors
from chatd.bus import BusEvent
from chatd.clock import Clock
from chatd.services import events as rendering
from chatd.services.business_hours import BusinessHours, firm_zone
from chatd.services.conversations import Conversations
from chatd.services.templates import STAFF_ROLES, Templates
from protocol.values import ClientEvent as EventValue
from protocol.values import EmailRule as RuleValue
from protocol.values import GeneratedDraft as DraftValue
from protocol.values import MessageKind, Role, Source, Template
from scheduler.due import Again, Done, Outcome
from storage import Database
from storage import directory as directory_store
from storage import due as due_store
from storage import events as event_store
from storage import genmail as store
from storage import templates as template_store
from storage import threads as thread_store
from storage.directory import Account
from storage.due import DueItem

logger = logging.getLogger(__name__)

DUE_KIND = "genmail.daily"
BUILTIN_KINDS = {
    "arrival": "Arrival",
    "departure": "Departure",
    "balance_due": "Balance due",
    "option_expiry": "Option expiry",
}
MANAGING_ROLES = (Role.OWNER, Role.MANAGER)
MAX_RULE_DAYS = 366
MAX_KEEP_DAYS = 90
_KIND_NAME = re.compile(r"^[a-z][a-z0-9_]{0,49}$")


def due_key(firm_id: int) -> str:
    return f"genmail-daily:{firm_id}"


def parse_date(raw: str) -> date:
    """``2026-07-14`` or the French ``14/07/2026``."""
    text = raw.strip()
    try:
        if "/" in text:
            day, month, year = text.split("/")
            return date(int(year), int(month), int(day))
        return date.fromisoformat(text)
    except ValueError:
        raise errors.BadRequest(f"{raw!r} is not a date (YYYY-MM-DD or DD/MM/YYYY)") from None


def next_run(now: datetime, zone: ZoneInfo, hour: int) -> datetime:
    """The next ``hour``:00 in the firm's zone after ``now``."""
    day = now.astimezone(zone).date()
    while (moment := datetime.combine(day, time(hour), zone)) <= now:
        day += timedelta(days=1)
    return moment


@dataclass(frozen=True, slots=True)
class RowProblem:
    row: int
    error: str


@dataclass
class ImportReport:
    rows: int = 0
    imported: int = 0
    already_recorded: int = 0
    problems: list[RowProblem] | None = None


@dataclass(frozen=True, slots=True)
class SendAllReport:
    sent: list[DraftValue]
    skipped: list[dict[str, Any]]


class GeneratedEmails:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        conversations: Conversations,
        templates: Templates,
        business_hours: BusinessHours,
    ) -> None:
        self._db = db
        self._clock = clock
        self._conversations = conversations
        self._templates = templates
        self._business_hours = business_hours
        business_hours.on_zone_change(self._zone_changed)

    # -- settings --

    async def settings(self, account: Account) -> dict[str, Any]:
        _check_staff(account)
        async with self._db.read() as conn:
            return await _described(conn, account.user.firm_id)

    async def change_settings(
        self, account: Account, *, time_zone_name: str | None, run_hour: int | None, keep_days: int | None
    ) -> dict[str, Any]:
        """``time_zone`` is the firm's (its business hours'): an alias, checked and changed there."""
        _check_manager(account)
        if run_hour is not None and not 0 <= run_hour <= 23:
            raise errors.BadRequest("run_hour is 0 to 23")
        if keep_days is not None and not 1 <= keep_days <= MAX_KEEP_DAYS:
            raise errors.BadRequest(f"keep_days is 1 to {MAX_KEEP_DAYS}")
        firm_id, now = account.user.firm_id, self._clock.now()
        async with self._db.write() as conn:
            if time_zone_name is not None:
                await self._business_hours.set_zone(conn, account, time_zone_name, now)
            current = await store.get_settings(conn, firm_id)
            changed = store.Settings(
                run_hour=current.run_hour if run_hour is None else run_hour,
                keep_days=keep_days or current.keep_days,
            )
            await store.save_settings(conn, firm_id, changed)
            await self._arm(conn, firm_id)
            return await _described(conn, firm_id)

    async def _zone_changed(self, conn: AsyncConnection, firm_id: int, now: datetime) -> None:
        """The firm's time zone changed: a firm with rules runs now, then at its hour in the new zone."""
        if await store.list_rules(conn, firm_id, active_only=True):
            await self._arm(conn, firm_id)

    # -- event kinds and events --

    async def kinds(self, account: Account) -> dict[str, str]:
        _check_staff(account)
        async with self._db.read() as conn:
            return {**BUILTIN_KINDS, **await store.custom_kinds(conn, account.user.firm_id)}

    async def define_kind(self, account: Account, *, name: str, label: str) -> dict[str, str]:
        _check_manager(account)
        if not _KIND_NAME.match(name):
            raise errors.BadRequest("a kind's name is 1 to 50 lowercase letters, digits or _, starting with a letter")
        if name in BUILTIN_KINDS:
            raise errors.Conflict(f"{name} is a built-in kind")
        label = label.strip()
        if not label or len(label) > 200:
            raise errors.BadRequest("a kind needs a label of 1 to 200 characters")
        async with self._db.write() as conn:
            await store.save_kind(conn, account.user.firm_id, name, label)
            return {**BUILTIN_KINDS, **await store.custom_kinds(conn, account.user.firm_id)}

    async def record_event(
        self, account: Account, *, client_account_id: int, kind: str, on_date: str, reference: str
    ) -> EventValue:
        """One event; recording the same one again answers the one recorded."""
        _check_staff(account)
        firm_id = account.user.firm_id
        async with self._db.write() as conn:
            kinds = {*BUILTIN_KINDS, *await store.custom_kinds(conn, firm_id)}
            clients = await store.firm_clients(conn, firm_id)
            if client_account_id not in clients:
                raise errors.NotFound(f"client account {client_account_id} not found")
            event = _new_event(client_account_id, kind, on_date, reference, kinds)
            stored = await store.insert_event(conn, firm_id, event, self._clock.now())
            if stored is None:
                same = await store.list_events(
                    conn, firm_id, client_account_id=client_account_id, kind=kind, after=event.on_date, limit=500
                )
                day = event.on_date.isoformat()
                stored = next(e for e in same if e.date == day and e.reference == event.reference)
            await self._arm(conn, firm_id)
        return stored

    async def events(
        self, account: Account, *, client_account_id: int | None, kind: str | None, after: str | None
    ) -> list[EventValue]:
        _check_staff(account)
        since = parse_date(after) if after else None
        async with self._db.read() as conn:
            return await store.list_events(
                conn, account.user.firm_id, client_account_id=client_account_id, kind=kind, after=since, limit=1000
            )

    async def delete_event(self, account: Account, event_id: int) -> None:
        _check_staff(account)
        async with self._db.write() as conn:
            if not await store.delete_event(conn, account.user.firm_id, event_id):
                raise errors.NotFound(f"event {event_id} not found")

    async def import_rows(
        self, account: Account, rows: Iterable[tuple[int, dict[str, str] | str]], *, chunk: int = 200
    ) -> AsyncIterator[ImportReport]:
        """Record the CSV's rows (``row number, {column: value}``, or the row's parse error), ``chunk``
        rows per transaction; yields the report so far after each chunk. A row with a bad date, an
        unknown client or kind is reported with its number; the good rows are recorded."""
        _check_staff(account)
        firm_id = account.user.firm_id
        async with self._db.read() as conn:
            kinds = {*BUILTIN_KINDS, *await store.custom_kinds(conn, firm_id)}
            clients = await store.firm_clients(conn, firm_id)
        by_name: dict[str, list[int]] = {}
        for client_id, name in clients.items():
            by_name.setdefault(name.strip().casefold(), []).append(client_id)
        report = ImportReport(problems=[])
        assert report.problems is not None
        batch: list[store.NewEvent] = []
        for number, row in rows:
            report.rows += 1
            if isinstance(row, str):
                report.problems.append(RowProblem(row=number, error=row))
                continue
            try:
                client_id = _client_of(row, clients, by_name)
                batch.append(
                    _new_event(client_id, row.get("kind", ""), row.get("date", ""), row.get("reference", ""), kinds)
                )
            except errors.ChatdError as exc:
                report.problems.append(RowProblem(row=number, error=exc.message))
            if len(batch) >= chunk:
                await self._record_batch(firm_id, batch, report)
                batch = []
                yield report
        await self._record_batch(firm_id, batch, report)
        yield report

    async def _record_batch(self, firm_id: int, batch: list[store.NewEvent], report: ImportReport) -> None:
        now = self._clock.now()
        async with self._db.write() as conn:
            for event in batch:
                if await store.insert_event(conn, firm_id, event, now) is None:
                    report.already_recorded += 1
                else:
                    report.imported += 1
            await self._arm(conn, firm_id)

    # -- rules --

    async def rules(self, account: Account) -> list[RuleValue]:
        """The firm's rules, each with its count of drafts waiting to be sent."""
        _check_staff(account)
        async with self._db.read() as conn:
            found = await store.list_rules(conn, account.user.firm_id)
            counts = await store.pending_counts(conn, account.user.firm_id)
        return [msgspec.structs.replace(rule, pending=counts.get(rule.id, 0)) for rule in found]

    async def create_rule(
        self, account: Account, *, name: str, event_kind: str, days: int, template_id: int
    ) -> RuleValue:
        """Refused when the template would not render for a client: unknown variables are named."""
        _check_manager(account)
        name = name.strip()
        if not name or len(name) > 200:
            raise errors.BadRequest("a rule needs a name of 1 to 200 characters")
        if abs(days) > MAX_RULE_DAYS:
            raise errors.BadRequest(f"days is at most {MAX_RULE_DAYS} before (negative) or after")
        firm_id = account.user.firm_id
        async with self._db.write() as conn:
            if event_kind not in {*BUILTIN_KINDS, *await store.custom_kinds(conn, firm_id)}:
                raise errors.BadRequest(f"unknown event kind {event_kind!r}; define it first")
            template = await self._templates.template_for(conn, account, template_id)
            await self._check_renders(conn, account, template, event_kind)
            rule = await store.insert_rule(
                conn,
                firm_id,
                name=name,
                event_kind=event_kind,
                days=days,
                template_id=template_id,
                author_id=account.user.id,
                now=self._clock.now(),
            )
            await self._arm(conn, firm_id)
        return rule

    async def set_rule_active(self, account: Account, rule_id: int, active: bool) -> RuleValue:
        _check_manager(account)
        async with self._db.write() as conn:
            if await store.get_rule(conn, account.user.firm_id, rule_id) is None:
                raise errors.NotFound(f"rule {rule_id} not found")
            rule = await store.update_rule(conn, rule_id, active=active)
            await self._arm(conn, account.user.firm_id)
        return rule

    async def _check_renders(
        self, conn: AsyncConnection, account: Account, template: Template, event_kind: str
    ) -> None:
        required = [f.name for f in template.fields if f.required]
        if required:
            raise errors.BadRequest(
                f"template {template.id} asks for fill-ins ({', '.join(required)}): nobody fills them in a "
                "generated email"
            )
        clients = await store.firm_clients(conn, account.user.firm_id)
        cards = await template_store.client_cards(conn, account.user.firm_id, list(clients))
        fields = {name: "" for card in cards.values() for name in card.custom_fields}
        context = (await self._templates.contexts(conn, account, [None]))[None]
        sample = {
            **context,
            "client": {"id": 0, "name": "", "fields": fields},
            "event": _event_variables(event_kind, self._clock.now().date(), ""),
        }
        rendered = self._templates.render(template.subject, template.body, template.fields, sample, {})
        if rendered.unknown:
            raise errors.BadRequest(f"template {template.id} uses unknown values: {', '.join(rendered.unknown)}")

    # -- the daily job (due work, in the claiming transaction) --

    async def run_daily(self, conn: AsyncConnection, item: DueItem, now: datetime) -> Outcome:
        assert item.firm_id is not None
        firm_id = item.firm_id
        settings = await store.get_settings(conn, firm_id)
        zone = await firm_zone(conn, firm_id)
        today = now.astimezone(zone).date()
        first = today - timedelta(days=settings.keep_days - 1)
        rules = await store.list_rules(conn, firm_id, active_only=True)
        made = 0
        for rule in rules:
            made += await self._draft_rule(conn, firm_id, rule, first, today, now)
        dropped = await store.drop_expired(conn, firm_id, dated_before=first, now=now)
        if made or dropped:
            logger.info("generated emails of firm %d: %d drafts made, %d dropped", firm_id, made, dropped)
        if not rules and not await store.pending_counts(conn, firm_id):
            return Done()  # armed again when a rule is made
        return Again(next_run(now, zone, settings.run_hour))

    async def _draft_rule(
        self, conn: AsyncConnection, firm_id: int, rule: RuleValue, first: date, last: date, now: datetime
    ) -> int:
        shift = timedelta(days=rule.days)
        events = await store.events_without_draft(conn, firm_id, rule.id, rule.event_kind, first - shift, last - shift)
        if not events:
            return 0
        author = await directory_store.get_account(conn, rule.author_id)
        template = await template_store.usable_template(conn, firm_id, rule.author_id, rule.template_id)
        if not author.active or template is None:
            logger.warning("rule %d of firm %d: its author or template is gone; no drafts", rule.id, firm_id)
            return 0
        contexts = await self._templates.contexts(conn, author, list({e.client_account_id for e in events}))
        made = 0
        for event in events:
            on = date.fromisoformat(event.date)
            variables = _event_variables(event.kind, on, event.reference)
            context = {**contexts[event.client_account_id], "event": variables}
            try:
                rendered = self._templates.render(template.subject, template.body, template.fields, context, {})
            except errors.ChatdError as exc:
                logger.warning("rule %d: template %d failed for event %d: %s", rule.id, template.id, event.id, exc)
                continue
            made += await store.insert_draft(
                conn,
                firm_id,
                rule_id=rule.id,
                event=event,
                for_date=on + shift,
                subject=(rendered.subject or rule.name)[:200],
                body=rendered.body,
                unknown=rendered.unknown,
                now=now,
            )
        return made

    async def _arm(self, conn: AsyncConnection, firm_id: int) -> None:
        """Run the firm's daily job now (it then keeps its daily time): after a change that may make drafts."""
        now = self._clock.now()
        await due_store.schedule(
            conn, kind=DUE_KIND, key=due_key(firm_id), due_at=now, now=now, firm_id=firm_id, keep_earlier=True
        )

    # -- the queue --

    async def drafts(self, account: Account, *, rule_id: int | None, state: str) -> list[DraftValue]:
        _check_staff(account)
        if state not in (store.PENDING, store.SENT, store.DROPPED):
            raise errors.BadRequest("state is pending, sent or dropped")
        async with self._db.read() as conn:
            return await store.list_drafts(conn, account.user.firm_id, rule_id=rule_id, state=state, limit=1000)

    async def draft(self, account: Account, draft_id: int) -> DraftValue:
        _check_staff(account)
        async with self._db.read() as conn:
            found = await store.get_draft(conn, account.user.firm_id, draft_id)
        if found is None:
            raise errors.NotFound(f"draft {draft_id} not found")
        return found

    async def edit(self, account: Account, draft_id: int, *, subject: str | None, body: str | None) -> DraftValue:
        _check_staff(account)
        async with self._db.write() as conn:
            current = await self._pending(conn, account, draft_id)
            subject, body = self._checked_text(subject or current.subject, current.body if body is None else body)
            edited = await store.edit_draft(conn, draft_id, subject=subject, body=body)
        assert edited is not None
        return edited

    async def send(
        self, account: Account, draft_id: int, *, subject: str | None = None, body: str | None = None
    ) -> DraftValue:
        """Send one draft (with the staff member's edits) as a new thread with its client."""
        _check_staff(account)
        async with self._db.write() as conn:
            current = await self._pending(conn, account, draft_id)
            if current.unknown and body is None:
                raise errors.BadRequest(
                    f"draft {draft_id} lacks values for this client ({', '.join(current.unknown)}): edit it first"
                )
            subject, text = self._checked_text(subject or current.subject, current.body if body is None else body)
            events, thread_id = await self._open_thread(conn, account, current, subject, text, draft_id)
            sent = await store.mark_sent(conn, draft_id, by=account.user.id, thread_id=thread_id, now=self._clock.now())
            if sent is None:
                raise errors.Conflict(f"draft {draft_id} was sent or dropped meanwhile")
        for event in events:
            self._conversations.publish(event)
        return sent

    async def send_all(self, account: Account, rule_id: int) -> SendAllReport:
        """Send every pending draft of the rule; those that lack values or were sent meanwhile are skipped."""
        _check_staff(account)
        async with self._db.read() as conn:
            if await store.get_rule(conn, account.user.firm_id, rule_id) is None:
                raise errors.NotFound(f"rule {rule_id} not found")
            pending = await store.list_drafts(
                conn, account.user.firm_id, rule_id=rule_id, state=store.PENDING, limit=10_000
            )
        sent: list[DraftValue] = []
        skipped: list[dict[str, Any]] = []
        for draft in pending:
            try:
                sent.append(await self.send(account, draft.id))
            except (errors.BadRequest, errors.Conflict, errors.NotFound) as exc:
                skipped.append({"id": draft.id, "reason": exc.message})
        return SendAllReport(sent=sent, skipped=skipped)

    async def _pending(self, conn: AsyncConnection, account: Account, draft_id: int) -> DraftValue:
        found = await store.get_draft(conn, account.user.firm_id, draft_id, for_update=True)
        if found is None:
            raise errors.NotFound(f"draft {draft_id} not found")
        if found.state != store.PENDING:
            raise errors.Conflict(f"draft {draft_id} is {found.state}")
        return found

    def _checked_text(self, subject: str, body: str) -> tuple[str, str]:
        subject = " ".join(subject.split())
        if not subject or len(subject) > 200:
            raise errors.BadRequest("a subject of 1 to 200 characters")
        self._conversations.render_body(body)
        return subject, body

    async def _open_thread(
        self, conn: AsyncConnection, account: Account, draft: DraftValue, subject: str, body: str, draft_id: int
    ) -> tuple[list[BusEvent], int]:
        """A new thread with the draft's client, its message written by the sender, in this transaction."""
        user, now = account.user, self._clock.now()
        thread_id = await thread_store.create_thread(
            conn,
            firm_id=user.firm_id,
            client_account_id=draft.client_account_id,
            subject=subject,
            created_by=user.id,
            now=now,
            source=Source.AUTOMATIC,
        )
        await thread_store.add_participants(conn, thread_id, [user.id], now)
        record = await event_store.append_event(
            conn, firm_id=user.firm_id, type="thread.created", thread_id=thread_id, user_id=user.id, now=now
        )
        facts = await thread_store.visible_thread_facts(conn, account.viewer, thread_id)
        # render_body parses no @mentions, so the message has no effects to run after the commit.
        _message, message_events, _effects = await self._conversations.post(
            conn,
            account,
            facts,
            body=self._conversations.render_body(body),
            client_msg_id=f"generated-{draft_id}",
            kind=MessageKind.MESSAGE,
        )
        thread = (await thread_store.threads_by_ids(conn, [thread_id]))[thread_id]
        # The thread's event goes out first, then the message's.
        created = rendering.thread_event(record, facts, thread, user.id)
        return [created, *message_events], thread_id


def _event_variables(kind: str, on: date, reference: str) -> dict[str, Any]:
    return {"kind": kind, "date": on, "reference": reference}


def _new_event(client_id: int, kind: str, on_date: str, reference: str, kinds: set[str]) -> store.NewEvent:
    kind = kind.strip()
    if kind not in kinds:
        raise errors.BadRequest(f"unknown event kind {kind!r}")
    reference = reference.strip()
    if len(reference) > 200:
        raise errors.BadRequest("reference is over 200 characters")
    return store.NewEvent(client_account_id=client_id, kind=kind, on_date=parse_date(on_date), reference=reference)


def _client_of(row: dict[str, str], clients: dict[int, str], by_name: dict[str, list[int]]) -> int:
    """The row's client: by ``client_id``, else by ``client`` (the account's name, case aside)."""
    raw_id = (row.get("client_id") or "").strip()
    if raw_id:
        if raw_id.isdigit() and int(raw_id) in clients:
            return int(raw_id)
        raise errors.BadRequest(f"unknown client {raw_id}")
    name = (row.get("client") or "").strip()
    found = by_name.get(name.casefold(), [])
    if len(found) == 1:
        return found[0]
    if not found:
        raise errors.BadRequest(f"unknown client {name!r}" if name else "no client given")
    raise errors.BadRequest(f"{len(found)} clients are named {name!r}: give client_id")


def _check_staff(account: Account) -> None:
    if account.user.role not in STAFF_ROLES:
        raise errors.NotFound("generated emails are for staff")


async def _described(conn: AsyncConnection, firm_id: int) -> dict[str, Any]:
    settings = await store.get_settings(conn, firm_id)
    zone = await firm_zone(conn, firm_id)
    return {"time_zone": zone.key, "run_hour": settings.run_hour, "keep_days": settings.keep_days}


def _check_manager(account: Account) -> None:
    _check_staff(account)
    if account.user.role not in MANAGING_ROLES:
        raise errors.Forbidden("only owners and managers change the rules of generated emails")
