"""Verbs for outgoing webhooks: the webhook of a bot, the fan-out cursor, and due deliveries.

Deliveries are rows with a state and a due time. A claim marks due rows ``delivering`` with a lease
in one transaction (PostgreSQL: ``FOR UPDATE SKIP LOCKED``), so two processes never POST the same
row at once; a lease that runs out (a crashed process) makes the row due again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, func, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.models import Meta, Webhook, WebhookDelivery
from storage.rows import AnyRow

FANOUT_THROUGH = "webhooks_fanned_out_through"
PENDING, DELIVERING, DELIVERED, FAILED = "pending", "delivering", "delivered", "failed"


@dataclass(frozen=True, slots=True)
class WebhookRecord:
    id: int
    bot_id: int
    url: str
    secret: str
    active: bool
    disabled_reason: str | None
    disabled_at: datetime | None
    consecutive_failures: int
    last_success_at: datetime | None
    last_failure_at: datetime | None
    last_error: str | None
    created_at: datetime
    after_event_id: int


@dataclass(frozen=True, slots=True)
class NewDelivery:
    webhook_id: int
    event_id: int
    event_type: str
    payload: str


@dataclass(frozen=True, slots=True)
class Claim:
    id: int
    webhook_id: int
    url: str
    secret: str
    payload: str
    attempts: int


def _webhook(row: AnyRow) -> WebhookRecord:
    return WebhookRecord(
        id=row.id,
        bot_id=row.bot_id,
        url=row.url,
        secret=row.secret,
        active=bool(row.active),
        disabled_reason=row.disabled_reason,
        disabled_at=row.disabled_at,
        consecutive_failures=row.consecutive_failures,
        last_success_at=row.last_success_at,
        last_failure_at=row.last_failure_at,
        last_error=row.last_error,
        created_at=row.created_at,
        after_event_id=row.after_event_id,
    )


async def replace_webhook(
    conn: AsyncConnection, *, bot_id: int, url: str, secret: str, after_event_id: int, now: datetime
) -> WebhookRecord:
    """Set the bot's webhook; a previous one and its deliveries are dropped."""
    await conn.execute(delete(Webhook).where(Webhook.bot_id == bot_id))
    await conn.execute(
        insert(Webhook).values(
            bot_id=bot_id,
            url=url,
            secret=secret,
            active=True,
            consecutive_failures=0,
            created_at=now,
            after_event_id=after_event_id,
        )
    )
    found = await get_webhook(conn, bot_id)
    assert found is not None
    return found


async def get_webhook(conn: AsyncConnection, bot_id: int) -> WebhookRecord | None:
    row = (await conn.execute(select(Webhook).where(Webhook.bot_id == bot_id))).one_or_none()
    return None if row is None else _webhook(row)


async def delete_webhook(conn: AsyncConnection, bot_id: int) -> bool:
    return bool((await conn.execute(delete(Webhook).where(Webhook.bot_id == bot_id))).rowcount)


async def enable_webhook(conn: AsyncConnection, bot_id: int) -> None:
    await conn.execute(
        update(Webhook)
        .where(Webhook.bot_id == bot_id)
        .values(active=True, disabled_reason=None, disabled_at=None, consecutive_failures=0)
    )


async def active_webhooks(conn: AsyncConnection) -> list[WebhookRecord]:
    rows = await conn.execute(select(Webhook).where(Webhook.active.is_(True)).order_by(Webhook.id))
    return [_webhook(row) for row in rows]


async def delivery_counts(conn: AsyncConnection, webhook_id: int) -> dict[str, int]:
    rows = await conn.execute(
        select(WebhookDelivery.state, func.count())
        .where(WebhookDelivery.webhook_id == webhook_id)
        .group_by(WebhookDelivery.state)
    )
    return {state: int(count) for state, count in rows}


# -- fan-out: events become delivery rows --


async def fanned_out_through(conn: AsyncConnection) -> int | None:
    found = await conn.scalar(select(Meta.value).where(Meta.key == FANOUT_THROUGH))
    return None if found is None else int(found)


async def advance_fan_out(conn: AsyncConnection, previous: int | None, through: int) -> bool:
    """Move the cursor from ``previous`` to ``through``; False when another process moved it first."""
    if previous is None:
        dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
        result = await conn.execute(
            dialect.insert(Meta).values(key=FANOUT_THROUGH, value=through).on_conflict_do_nothing()
        )
    else:
        result = await conn.execute(
            update(Meta).where(Meta.key == FANOUT_THROUGH, Meta.value == previous).values(value=through)
        )
    return bool(result.rowcount)


async def insert_deliveries(conn: AsyncConnection, deliveries: list[NewDelivery], now: datetime) -> None:
    if not deliveries:
        return
    await conn.execute(
        insert(WebhookDelivery),
        [
            {
                "webhook_id": d.webhook_id,
                "event_id": d.event_id,
                "event_type": d.event_type,
                "payload": d.payload,
                "state": PENDING,
                "attempts": 0,
                "due_at": now,
                "created_at": now,
            }
            for d in deliveries
        ],
    )


# -- delivery: claim, then record the outcome --


def _due(now: datetime) -> Any:
    return or_(
        and_(WebhookDelivery.state == PENDING, WebhookDelivery.due_at <= now),
        and_(WebhookDelivery.state == DELIVERING, WebhookDelivery.claimed_until <= now),
    )


async def any_due(conn: AsyncConnection, now: datetime) -> bool:
    """Whether a delivery is due: a read, so an idle tick takes no write lock."""
    return await conn.scalar(select(WebhookDelivery.id).where(_due(now)).limit(1)) is not None


async def claim_due(conn: AsyncConnection, now: datetime, lease_until: datetime, limit: int) -> list[Claim]:
    """Due deliveries of active webhooks, oldest first, marked ``delivering`` until ``lease_until``."""
    due = _due(now)
    query = (
        select(
            WebhookDelivery.id,
            WebhookDelivery.webhook_id,
            WebhookDelivery.payload,
            WebhookDelivery.attempts,
            Webhook.url,
            Webhook.secret,
        )
        .join(Webhook, Webhook.id == WebhookDelivery.webhook_id)
        .where(due, Webhook.active.is_(True))
        .order_by(WebhookDelivery.due_at, WebhookDelivery.id)
        .limit(limit)
    )
    if conn.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True, of=WebhookDelivery)
    rows = list(await conn.execute(query))
    if not rows:
        return []
    await conn.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.id.in_([row.id for row in rows]))
        .values(state=DELIVERING, claimed_until=lease_until)
    )
    return [
        Claim(
            id=row.id,
            webhook_id=row.webhook_id,
            url=row.url,
            secret=row.secret,
            payload=row.payload,
            attempts=row.attempts,
        )
        for row in rows
    ]


async def record_success(conn: AsyncConnection, claim: Claim, now: datetime) -> None:
    await conn.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.id == claim.id)
        .values(state=DELIVERED, attempts=claim.attempts + 1, delivered_at=now, claimed_until=None, last_error=None)
    )
    await conn.execute(
        update(Webhook)
        .where(Webhook.id == claim.webhook_id)
        .values(consecutive_failures=0, last_success_at=now, last_error=None)
    )


async def record_failure(
    conn: AsyncConnection,
    claim: Claim,
    now: datetime,
    error: str,
    *,
    retry_at: datetime | None,
    disable_after: int,
) -> bool:
    """Count a failed attempt: retry at ``retry_at`` (None: give up on it). Returns True when the
    webhook reached ``disable_after`` consecutive failures and was disabled."""
    await conn.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.id == claim.id)
        .values(
            state=PENDING if retry_at is not None else FAILED,
            attempts=claim.attempts + 1,
            due_at=retry_at or now,
            claimed_until=None,
            last_error=error,
        )
    )
    failures = await conn.scalar(
        update(Webhook)
        .where(Webhook.id == claim.webhook_id)
        .values(consecutive_failures=Webhook.consecutive_failures + 1, last_failure_at=now, last_error=error)
        .returning(Webhook.consecutive_failures)
    )
    if failures is None or failures < disable_after:
        return False
    reason = f"disabled after {failures} consecutive failed deliveries; last error: {error}"
    await conn.execute(
        update(Webhook)
        .where(Webhook.id == claim.webhook_id, Webhook.active.is_(True))
        .values(active=False, disabled_reason=reason, disabled_at=now)
    )
    return True


@dataclass(frozen=True, slots=True)
class DeliveryRecord:
    id: int
    event_id: int
    event_type: str
    state: str
    attempts: int
    due_at: datetime
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None


async def recent_deliveries(conn: AsyncConnection, webhook_id: int, limit: int) -> list[DeliveryRecord]:
    rows = await conn.execute(
        select(
            WebhookDelivery.id,
            WebhookDelivery.event_id,
            WebhookDelivery.event_type,
            WebhookDelivery.state,
            WebhookDelivery.attempts,
            WebhookDelivery.due_at,
            WebhookDelivery.last_error,
            WebhookDelivery.created_at,
            WebhookDelivery.delivered_at,
        )
        .where(WebhookDelivery.webhook_id == webhook_id)
        .order_by(WebhookDelivery.id.desc())
        .limit(limit)
    )
    return [
        DeliveryRecord(
            id=row.id,
            event_id=row.event_id,
            event_type=row.event_type,
            state=row.state,
            attempts=row.attempts,
            due_at=row.due_at,
            last_error=row.last_error,
            created_at=row.created_at,
            delivered_at=row.delivered_at,
        )
        for row in rows
    ]
