"""Verbs for web push: users' subscriptions and the server's VAPID key."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.push_models import PushSubscription, VapidKey
from storage.rows import AnyRow


@dataclass(frozen=True, slots=True)
class Subscription:
    id: int
    user_id: int
    endpoint: str
    p256dh: str
    auth: str
    created_at: datetime


_COLUMNS = (
    PushSubscription.id,
    PushSubscription.user_id,
    PushSubscription.endpoint,
    PushSubscription.p256dh,
    PushSubscription.auth,
    PushSubscription.created_at,
)


def _subscription(row: AnyRow) -> Subscription:
    return Subscription(row.id, row.user_id, row.endpoint, row.p256dh, row.auth, row.created_at)


async def save_subscription(
    conn: AsyncConnection, *, user_id: int, endpoint: str, p256dh: str, auth: str, now: datetime
) -> Subscription:
    """Register a browser; the same endpoint registered again (another login on it) takes the new user and keys."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(PushSubscription).values(
        user_id=user_id, endpoint=endpoint, p256dh=p256dh, auth=auth, created_at=now
    )
    statement = statement.on_conflict_do_update(
        index_elements=[PushSubscription.endpoint],
        set_={"user_id": user_id, "p256dh": p256dh, "auth": auth, "created_at": now},
    )
    return _subscription((await conn.execute(statement.returning(*_COLUMNS))).one())


async def remove_subscription(conn: AsyncConnection, *, endpoint: str, user_id: int | None = None) -> bool:
    statement = delete(PushSubscription).where(PushSubscription.endpoint == endpoint)
    if user_id is not None:
        statement = statement.where(PushSubscription.user_id == user_id)
    return bool((await conn.execute(statement)).rowcount)


async def subscriptions_of(conn: AsyncConnection, user_id: int) -> list[Subscription]:
    rows = await conn.execute(
        select(*_COLUMNS).where(PushSubscription.user_id == user_id).order_by(PushSubscription.id)
    )
    return [_subscription(row) for row in rows]


async def subscriptions_of_users(conn: AsyncConnection, user_ids: list[int]) -> dict[int, list[Subscription]]:
    """Each user's subscriptions (users without any are left out), in one query."""
    found: dict[int, list[Subscription]] = {}
    if not user_ids:
        return found
    rows = await conn.execute(
        select(*_COLUMNS).where(PushSubscription.user_id.in_(sorted(set(user_ids)))).order_by(PushSubscription.id)
    )
    for row in rows:
        found.setdefault(row.user_id, []).append(_subscription(row))
    return found


async def subscription(conn: AsyncConnection, subscription_id: int) -> Subscription | None:
    row = (await conn.execute(select(*_COLUMNS).where(PushSubscription.id == subscription_id))).first()
    return None if row is None else _subscription(row)


async def vapid_private_key(conn: AsyncConnection, candidate: str, now: datetime) -> str:
    """The stored key; ``candidate`` is stored first if there is none (the first process wins)."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    await conn.execute(
        dialect.insert(VapidKey).values(id=1, private_key=candidate, created_at=now).on_conflict_do_nothing()
    )
    return str((await conn.execute(select(VapidKey.private_key).where(VapidKey.id == 1))).scalar_one())
