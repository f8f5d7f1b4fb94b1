"""Verbs for generated emails: client events, event kinds, rules, drafts and the firm's settings."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

import msgspec
from sqlalchemy import delete, exists, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from protocol.values import ClientEvent as EventValue
from protocol.values import EmailRule as RuleValue
from protocol.values import GeneratedDraft as DraftValue
from protocol.values import format_time
from storage.genmail_models import ClientEvent, EmailRule, EventKind, GeneratedDraft, GeneratedEmailSettings
from storage.models import ClientAccount
from storage.rows import AnyRow

PENDING, SENT, DROPPED = "pending", "sent", "dropped"


def _insert(conn: AsyncConnection, table: type) -> postgresql.Insert | sqlite.Insert:
    """INSERT with the dialect's ON CONFLICT clauses."""
    if conn.dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


# -- settings --


@dataclass(frozen=True, slots=True)
class Settings:
    """The daily job's settings; its time zone is the firm's (storage/business_hours.py)."""

    run_hour: int = 6
    keep_days: int = 14


async def get_settings(conn: AsyncConnection, firm_id: int) -> Settings:
    row = (
        await conn.execute(
            select(GeneratedEmailSettings.run_hour, GeneratedEmailSettings.keep_days).where(
                GeneratedEmailSettings.firm_id == firm_id
            )
        )
    ).first()
    return Settings() if row is None else Settings(row.run_hour, row.keep_days)


async def save_settings(conn: AsyncConnection, firm_id: int, settings: Settings) -> None:
    values = {"run_hour": settings.run_hour, "keep_days": settings.keep_days}
    statement = _insert(conn, GeneratedEmailSettings).values(firm_id=firm_id, **values)
    await conn.execute(statement.on_conflict_do_update(index_elements=["firm_id"], set_=values))


# -- event kinds and client events --


async def custom_kinds(conn: AsyncConnection, firm_id: int) -> dict[str, str]:
    rows = await conn.execute(
        select(EventKind.name, EventKind.label).where(EventKind.firm_id == firm_id).order_by(EventKind.name)
    )
    return {row.name: row.label for row in rows}


async def save_kind(conn: AsyncConnection, firm_id: int, name: str, label: str) -> None:
    statement = _insert(conn, EventKind).values(firm_id=firm_id, name=name, label=label)
    await conn.execute(statement.on_conflict_do_update(index_elements=["firm_id", "name"], set_={"label": label}))


async def firm_clients(conn: AsyncConnection, firm_id: int) -> dict[int, str]:
    """The firm's client accounts: id -> name."""
    rows = await conn.execute(select(ClientAccount.id, ClientAccount.name).where(ClientAccount.firm_id == firm_id))
    return {row.id: row.name for row in rows}


@dataclass(frozen=True, slots=True)
class NewEvent:
    client_account_id: int
    kind: str
    on_date: date
    reference: str


_EVENT_COLUMNS = (
    ClientEvent.id,
    ClientEvent.client_account_id,
    ClientEvent.kind,
    ClientEvent.on_date,
    ClientEvent.reference,
    ClientEvent.created_at,
)


def _event(row: AnyRow) -> EventValue:
    return EventValue(
        id=row.id,
        client_account_id=row.client_account_id,
        kind=row.kind,
        date=row.on_date.isoformat(),
        reference=row.reference,
        created_at=format_time(row.created_at),
    )


async def insert_event(conn: AsyncConnection, firm_id: int, event: NewEvent, now: datetime) -> EventValue | None:
    """Record an event; None when the same one (client, kind, date, reference) is already there."""
    statement = (
        _insert(conn, ClientEvent)
        .values(
            firm_id=firm_id,
            client_account_id=event.client_account_id,
            kind=event.kind,
            on_date=event.on_date,
            reference=event.reference,
            created_at=now,
        )
        .on_conflict_do_nothing()
        .returning(*_EVENT_COLUMNS)
    )
    row = (await conn.execute(statement)).first()
    return None if row is None else _event(row)


async def list_events(
    conn: AsyncConnection,
    firm_id: int,
    *,
    client_account_id: int | None,
    kind: str | None,
    after: date | None,
    limit: int,
) -> list[EventValue]:
    query = select(*_EVENT_COLUMNS).where(ClientEvent.firm_id == firm_id)
    if client_account_id is not None:
        query = query.where(ClientEvent.client_account_id == client_account_id)
    if kind is not None:
        query = query.where(ClientEvent.kind == kind)
    if after is not None:
        query = query.where(ClientEvent.on_date >= after)
    rows = await conn.execute(query.order_by(ClientEvent.on_date, ClientEvent.id).limit(limit))
    return [_event(row) for row in rows]


async def delete_event(conn: AsyncConnection, firm_id: int, event_id: int) -> bool:
    """Forget an event, and the drafts it made that were not sent."""
    found = await conn.scalar(select(ClientEvent.id).where(ClientEvent.id == event_id, ClientEvent.firm_id == firm_id))
    if found is None:
        return False
    sent = await conn.scalar(
        select(func.count()).where(GeneratedDraft.event_id == event_id, GeneratedDraft.state == SENT)
    )
    if sent:
        # Keep the record of what was sent: the event stays, its pending drafts are dropped.
        await conn.execute(
            update(GeneratedDraft)
            .where(GeneratedDraft.event_id == event_id, GeneratedDraft.state == PENDING)
            .values(state=DROPPED)
        )
        return True
    await conn.execute(delete(ClientEvent).where(ClientEvent.id == event_id))
    return True


async def events_without_draft(
    conn: AsyncConnection, firm_id: int, rule_id: int, kind: str, first: date, last: date
) -> list[EventValue]:
    """Events of ``kind`` dated ``first`` to ``last`` for which the rule has made no draft yet."""
    has_draft = exists().where(GeneratedDraft.rule_id == rule_id, GeneratedDraft.event_id == ClientEvent.id)
    rows = await conn.execute(
        select(*_EVENT_COLUMNS)
        .where(
            ClientEvent.firm_id == firm_id,
            ClientEvent.kind == kind,
            ClientEvent.on_date >= first,
            ClientEvent.on_date <= last,
            ~has_draft,
        )
        .order_by(ClientEvent.on_date, ClientEvent.id)
    )
    return [_event(row) for row in rows]


# -- rules --


_RULE_COLUMNS = (
    EmailRule.id,
    EmailRule.name,
    EmailRule.event_kind,
    EmailRule.days,
    EmailRule.template_id,
    EmailRule.author_id,
    EmailRule.active,
    EmailRule.created_at,
)


def _rule(row: AnyRow) -> RuleValue:
    return RuleValue(
        id=row.id,
        name=row.name,
        event_kind=row.event_kind,
        days=row.days,
        template_id=row.template_id,
        author_id=row.author_id,
        active=row.active,
        created_at=format_time(row.created_at),
    )


async def insert_rule(
    conn: AsyncConnection,
    firm_id: int,
    *,
    name: str,
    event_kind: str,
    days: int,
    template_id: int,
    author_id: int,
    now: datetime,
) -> RuleValue:
    row = (
        await conn.execute(
            insert(EmailRule)
            .values(
                firm_id=firm_id,
                name=name,
                event_kind=event_kind,
                days=days,
                template_id=template_id,
                author_id=author_id,
                active=True,
                created_at=now,
            )
            .returning(*_RULE_COLUMNS)
        )
    ).one()
    return _rule(row)


async def update_rule(conn: AsyncConnection, rule_id: int, **changes: object) -> RuleValue:
    row = (
        await conn.execute(update(EmailRule).where(EmailRule.id == rule_id).values(**changes).returning(*_RULE_COLUMNS))
    ).one()
    return _rule(row)


async def get_rule(conn: AsyncConnection, firm_id: int, rule_id: int) -> RuleValue | None:
    row = (
        await conn.execute(select(*_RULE_COLUMNS).where(EmailRule.id == rule_id, EmailRule.firm_id == firm_id))
    ).first()
    return None if row is None else _rule(row)


async def list_rules(conn: AsyncConnection, firm_id: int, *, active_only: bool = False) -> list[RuleValue]:
    query = select(*_RULE_COLUMNS).where(EmailRule.firm_id == firm_id)
    if active_only:
        query = query.where(EmailRule.active.is_(True))
    rows = await conn.execute(query.order_by(EmailRule.id))
    return [_rule(row) for row in rows]


# -- drafts --


_DRAFT_COLUMNS = (
    GeneratedDraft.id,
    GeneratedDraft.rule_id,
    GeneratedDraft.event_id,
    GeneratedDraft.client_account_id,
    GeneratedDraft.for_date,
    GeneratedDraft.subject,
    GeneratedDraft.body,
    GeneratedDraft.unknown,
    GeneratedDraft.state,
    GeneratedDraft.created_at,
    GeneratedDraft.finished_at,
    GeneratedDraft.sent_by,
    GeneratedDraft.thread_id,
)
_unknown_decoder = msgspec.json.Decoder(list[str])


def _draft(row: AnyRow) -> DraftValue:
    return DraftValue(
        id=row.id,
        rule_id=row.rule_id,
        event_id=row.event_id,
        client_account_id=row.client_account_id,
        date=row.for_date.isoformat(),
        subject=row.subject,
        body=row.body,
        unknown=_unknown_decoder.decode(row.unknown),
        state=row.state,
        created_at=format_time(row.created_at),
        finished_at=format_time(row.finished_at) if row.finished_at else None,
        sent_by=row.sent_by,
        thread_id=row.thread_id,
    )


async def insert_draft(
    conn: AsyncConnection,
    firm_id: int,
    *,
    rule_id: int,
    event: EventValue,
    for_date: date,
    subject: str,
    body: str,
    unknown: list[str],
    now: datetime,
) -> bool:
    """Add the rule's draft for the event; False when it already has one (made by another run)."""
    statement = (
        _insert(conn, GeneratedDraft)
        .values(
            firm_id=firm_id,
            rule_id=rule_id,
            event_id=event.id,
            client_account_id=event.client_account_id,
            for_date=for_date,
            subject=subject,
            body=body,
            unknown=msgspec.json.encode(unknown).decode(),
            state=PENDING,
            created_at=now,
        )
        .on_conflict_do_nothing()
        .returning(GeneratedDraft.id)
    )
    return (await conn.execute(statement)).first() is not None


async def drop_expired(conn: AsyncConnection, firm_id: int, *, dated_before: date, now: datetime) -> int:
    """Drafts still pending whose date is before ``dated_before`` are dropped (kept, marked)."""
    result = await conn.execute(
        update(GeneratedDraft)
        .where(
            GeneratedDraft.firm_id == firm_id,
            GeneratedDraft.state == PENDING,
            GeneratedDraft.for_date < dated_before,
        )
        .values(state=DROPPED, finished_at=now)
    )
    return int(result.rowcount)


async def pending_counts(conn: AsyncConnection, firm_id: int) -> dict[int, int]:
    """Pending drafts per rule."""
    rows = await conn.execute(
        select(GeneratedDraft.rule_id, func.count())
        .where(GeneratedDraft.firm_id == firm_id, GeneratedDraft.state == PENDING)
        .group_by(GeneratedDraft.rule_id)
    )
    return {row[0]: int(row[1]) for row in rows}


async def list_drafts(
    conn: AsyncConnection, firm_id: int, *, rule_id: int | None, state: str, limit: int
) -> list[DraftValue]:
    query = select(*_DRAFT_COLUMNS).where(GeneratedDraft.firm_id == firm_id, GeneratedDraft.state == state)
    if rule_id is not None:
        query = query.where(GeneratedDraft.rule_id == rule_id)
    rows = await conn.execute(query.order_by(GeneratedDraft.for_date, GeneratedDraft.id).limit(limit))
    return [_draft(row) for row in rows]


async def get_draft(
    conn: AsyncConnection, firm_id: int, draft_id: int, *, for_update: bool = False
) -> DraftValue | None:
    query = select(*_DRAFT_COLUMNS).where(GeneratedDraft.id == draft_id, GeneratedDraft.firm_id == firm_id)
    if for_update and conn.dialect.name == "postgresql":
        query = query.with_for_update()
    row = (await conn.execute(query)).first()
    return None if row is None else _draft(row)


async def edit_draft(conn: AsyncConnection, draft_id: int, *, subject: str, body: str) -> DraftValue | None:
    """Staff's own text for a pending draft (it no longer lacks anything); None if no longer pending."""
    row = (
        await conn.execute(
            update(GeneratedDraft)
            .where(GeneratedDraft.id == draft_id, GeneratedDraft.state == PENDING)
            .values(subject=subject, body=body, unknown="[]")
            .returning(*_DRAFT_COLUMNS)
        )
    ).first()
    return None if row is None else _draft(row)


async def mark_sent(
    conn: AsyncConnection, draft_id: int, *, by: int, thread_id: int, now: datetime
) -> DraftValue | None:
    """Pending -> sent, in the transaction that wrote the message; None if it was no longer pending."""
    row = (
        await conn.execute(
            update(GeneratedDraft)
            .where(GeneratedDraft.id == draft_id, GeneratedDraft.state == PENDING)
            .values(state=SENT, sent_by=by, thread_id=thread_id, finished_at=now)
            .returning(*_DRAFT_COLUMNS)
        )
    ).first()
    return None if row is None else _draft(row)
