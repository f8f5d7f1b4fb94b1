"""Verbs for bot users: their settings, their API tokens, the threads they are added to."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from protocol.values import BotScope, Role
from storage.directory import SYSTEM_EMAIL_DOMAIN
from storage.models import ApiToken, Participant, User
from storage.rows import AnyRow


@dataclass(frozen=True, slots=True)
class BotRecord:
    id: int
    firm_id: int
    name: str
    email: str
    scope: BotScope
    read_only: bool
    active: bool
    created_at: datetime


@dataclass(frozen=True, slots=True)
class TokenRecord:
    """An API token as its owner may see it: never the secret, which is shown once at creation."""

    id: int
    label: str
    created_at: datetime
    last_used_at: datetime | None
    expires_at: datetime | None
    revoked_at: datetime | None


_BOT_COLUMNS = (
    User.id,
    User.firm_id,
    User.name,
    User.email,
    User.bot_scope,
    User.read_only,
    User.active,
    User.created_at,
)


# The firm's own author (storage.directory.system_account) is no bot owners manage.
_not_system = User.email.not_like(f"%@{SYSTEM_EMAIL_DOMAIN}")


def _bot(row: AnyRow) -> BotRecord:
    return BotRecord(
        id=row.id,
        firm_id=row.firm_id,
        name=row.name,
        email=row.email,
        scope=BotScope(row.bot_scope or BotScope.THREADS.value),
        read_only=bool(row.read_only),
        active=bool(row.active),
        created_at=row.created_at,
    )


async def firm_bots(conn: AsyncConnection, firm_id: int) -> list[BotRecord]:
    rows = await conn.execute(
        select(*_BOT_COLUMNS).where(User.firm_id == firm_id, User.role == Role.BOT.value, _not_system).order_by(User.id)
    )
    return [_bot(row) for row in rows]


async def get_bot(conn: AsyncConnection, firm_id: int, bot_id: int) -> BotRecord | None:
    row = (
        await conn.execute(
            select(*_BOT_COLUMNS).where(
                User.id == bot_id, User.firm_id == firm_id, User.role == Role.BOT.value, _not_system
            )
        )
    ).one_or_none()
    return None if row is None else _bot(row)


async def update_bot(
    conn: AsyncConnection,
    bot_id: int,
    *,
    name: str | None = None,
    scope: BotScope | None = None,
    read_only: bool | None = None,
    active: bool | None = None,
) -> None:
    values: dict[str, object] = {}
    if name is not None:
        values["name"] = name
    if scope is not None:
        values["bot_scope"] = scope.value
    if read_only is not None:
        values["read_only"] = read_only
    if active is not None:
        values["active"] = active
    if values:
        await conn.execute(update(User).where(User.id == bot_id).values(**values))


async def tokens_of(conn: AsyncConnection, user_id: int) -> list[TokenRecord]:
    rows = await conn.execute(
        select(
            ApiToken.id,
            ApiToken.label,
            ApiToken.created_at,
            ApiToken.last_used_at,
            ApiToken.expires_at,
            ApiToken.revoked_at,
        )
        .where(ApiToken.user_id == user_id)
        .order_by(ApiToken.id)
    )
    return [
        TokenRecord(
            id=row.id,
            label=row.label,
            created_at=row.created_at,
            last_used_at=row.last_used_at,
            expires_at=row.expires_at,
            revoked_at=row.revoked_at,
        )
        for row in rows
    ]


async def remove_participant(conn: AsyncConnection, thread_id: int, user_id: int) -> bool:
    result = await conn.execute(
        delete(Participant).where(Participant.thread_id == thread_id, Participant.user_id == user_id)
    )
    return bool(result.rowcount)
