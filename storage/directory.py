"""Verbs for firms, client accounts, users, API tokens and login sessions."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from protocol.values import BotScope, Role, format_time
from protocol.values import User as UserValue
from storage.errors import Duplicate, NotFound
from storage.handles import free_handle
from storage.models import ApiToken, ClientAccount, Firm, LoginSession, User
from storage.rows import AnyRow
from storage.viewer import Viewer


@dataclass(frozen=True, slots=True)
class Account:
    """A user as the server needs it: the public shape plus what authentication checks."""

    user: UserValue
    password_hash: str | None
    active: bool
    firm_shares_threads: bool
    # Bots only (see storage.bots).
    bot_scope: BotScope | None = None
    read_only: bool = False

    @property
    def viewer(self) -> Viewer:
        return Viewer(
            user_id=self.user.id,
            firm_id=self.user.firm_id,
            role=self.user.role,
            client_account_id=self.user.client_account_id,
            firm_shares_threads=self.firm_shares_threads,
            bot_scope=self.bot_scope,
        )


_ACCOUNT_COLUMNS = (
    User.id,
    User.firm_id,
    User.name,
    User.email,
    User.role,
    User.client_account_id,
    User.password_hash,
    User.active,
    User.bot_scope,
    User.read_only,
    Firm.staff_see_all_threads,
)


def _account(row: AnyRow) -> Account:
    return Account(
        user=UserValue(
            id=row.id,
            firm_id=row.firm_id,
            name=row.name,
            email=row.email,
            role=Role(row.role),
            client_account_id=row.client_account_id,
        ),
        password_hash=row.password_hash,
        active=row.active,
        firm_shares_threads=row.staff_see_all_threads,
        bot_scope=None if row.bot_scope is None else BotScope(row.bot_scope),
        read_only=bool(row.read_only),
    )


async def create_firm(conn: AsyncConnection, name: str, now: datetime) -> int:
    result = await conn.execute(
        insert(Firm).values(name=name, staff_see_all_threads=True, created_at=now).returning(Firm.id)
    )
    return int(result.scalar_one())


async def firm_exists(conn: AsyncConnection, firm_id: int) -> bool:
    return (await conn.scalar(select(Firm.id).where(Firm.id == firm_id))) is not None


async def find_firm_by_name(conn: AsyncConnection, name: str) -> int | None:
    found = await conn.scalar(select(Firm.id).where(Firm.name == name).order_by(Firm.id).limit(1))
    return None if found is None else int(found)


async def create_client_account(conn: AsyncConnection, firm_id: int, name: str, now: datetime) -> int:
    result = await conn.execute(
        insert(ClientAccount).values(firm_id=firm_id, name=name, created_at=now).returning(ClientAccount.id)
    )
    return int(result.scalar_one())


async def client_account_firm(conn: AsyncConnection, account_id: int) -> int | None:
    found = await conn.scalar(select(ClientAccount.firm_id).where(ClientAccount.id == account_id))
    return None if found is None else int(found)


async def create_user(
    conn: AsyncConnection,
    *,
    firm_id: int,
    email: str,
    name: str,
    role: Role,
    password_hash: str | None,
    client_account_id: int | None,
    now: datetime,
    bot_scope: BotScope | None = None,
    read_only: bool = False,
) -> UserValue:
    try:
        result = await conn.execute(
            insert(User)
            .values(
                firm_id=firm_id,
                email=email,
                name=name,
                role=role.value,
                password_hash=password_hash,
                client_account_id=client_account_id,
                active=True,
                created_at=now,
                bot_scope=None if bot_scope is None else bot_scope.value,
                read_only=read_only,
                handle=await free_handle(conn, firm_id, name, email),
            )
            .returning(User.id)
        )
    except IntegrityError as exc:
        raise Duplicate(f"a user with email {email!r} exists") from exc
    return UserValue(
        id=int(result.scalar_one()),
        firm_id=firm_id,
        name=name,
        email=email,
        role=role,
        client_account_id=client_account_id,
    )


async def get_account(conn: AsyncConnection, user_id: int) -> Account:
    row = (
        await conn.execute(select(*_ACCOUNT_COLUMNS).join(Firm, Firm.id == User.firm_id).where(User.id == user_id))
    ).one_or_none()
    if row is None:
        raise NotFound(f"user {user_id}")
    return _account(row)


# The firm's own author for what chatd writes in its name: no one can sign in as it.
SYSTEM_EMAIL_DOMAIN = "system.chatd.invalid"


async def system_account(conn: AsyncConnection, firm_id: int, now: datetime) -> Account:
    """The author of automatic messages (automatic replies, recurring messages): a read-only bot
    without credentials named after the firm, made the first time it is needed."""
    email = f"firm-{firm_id}@{SYSTEM_EMAIL_DOMAIN}"
    found = await find_account_by_email(conn, email)
    if found is not None:
        return found
    name = await conn.scalar(select(Firm.name).where(Firm.id == firm_id))
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    # A concurrent first use inserts it too: wait for it and keep that one.
    await conn.execute(
        dialect.insert(User)
        .values(
            firm_id=firm_id,
            email=email,
            name=str(name),
            role=Role.BOT.value,
            password_hash=None,
            active=True,
            created_at=now,
            bot_scope=BotScope.THREADS.value,
            read_only=True,
        )
        .on_conflict_do_nothing(index_elements=[User.email])
    )
    created = await find_account_by_email(conn, email)
    assert created is not None
    return created


async def find_account_by_email(conn: AsyncConnection, email: str) -> Account | None:
    row = (
        await conn.execute(select(*_ACCOUNT_COLUMNS).join(Firm, Firm.id == User.firm_id).where(User.email == email))
    ).one_or_none()
    return None if row is None else _account(row)


async def set_password_hash(conn: AsyncConnection, user_id: int, password_hash: str) -> None:
    await conn.execute(update(User).where(User.id == user_id).values(password_hash=password_hash))


async def firm_user_ids(conn: AsyncConnection, firm_id: int, user_ids: list[int]) -> dict[int, Role]:
    """The roles of those of ``user_ids`` who are active users of the firm."""
    rows = await conn.execute(
        select(User.id, User.role).where(User.firm_id == firm_id, User.id.in_(user_ids), User.active.is_(True))
    )
    return {int(uid): Role(role) for uid, role in rows}


async def client_account_of(conn: AsyncConnection, user_id: int) -> int | None:
    found = await conn.scalar(select(User.client_account_id).where(User.id == user_id))
    return None if found is None else int(found)


async def create_api_token(
    conn: AsyncConnection,
    user_id: int,
    token_hash: str,
    label: str,
    now: datetime,
    expires_at: datetime | None = None,
) -> int:
    result = await conn.execute(
        insert(ApiToken)
        .values(user_id=user_id, token_hash=token_hash, label=label, created_at=now, expires_at=expires_at)
        .returning(ApiToken.id)
    )
    return int(result.scalar_one())


async def account_for_token(
    conn: AsyncConnection, token_hash: str, now: datetime
) -> tuple[int, datetime | None, Account] | None:
    """The live token's id, when it was last used, and its user; None if unknown, revoked or expired."""
    row = (
        await conn.execute(
            select(ApiToken.id, ApiToken.user_id, ApiToken.last_used_at).where(
                ApiToken.token_hash == token_hash,
                ApiToken.revoked_at.is_(None),
                or_(ApiToken.expires_at.is_(None), ApiToken.expires_at > now),
            )
        )
    ).one_or_none()
    if row is None:
        return None
    return row.id, row.last_used_at, await get_account(conn, row.user_id)


async def touch_api_token(conn: AsyncConnection, token_id: int, now: datetime) -> None:
    await conn.execute(update(ApiToken).where(ApiToken.id == token_id).values(last_used_at=now))


async def revoke_api_token(conn: AsyncConnection, token_id: int, now: datetime) -> int:
    """Revoke a token; returns its user's id."""
    user_id = await conn.scalar(
        update(ApiToken)
        .where(ApiToken.id == token_id, ApiToken.revoked_at.is_(None))
        .values(revoked_at=now)
        .returning(ApiToken.user_id)
    )
    if user_id is None:
        raise NotFound(f"token {token_id}")
    return int(user_id)


async def api_token_owner(conn: AsyncConnection, token_id: int) -> int | None:
    found = await conn.scalar(select(ApiToken.user_id).where(ApiToken.id == token_id))
    return None if found is None else int(found)


async def create_login_session(
    conn: AsyncConnection, user_id: int, secret_hash: str, now: datetime, expires_at: datetime
) -> None:
    await conn.execute(
        insert(LoginSession).values(user_id=user_id, secret_hash=secret_hash, created_at=now, expires_at=expires_at)
    )


async def account_for_login_session(conn: AsyncConnection, secret_hash: str, now: datetime) -> Account | None:
    user_id = await conn.scalar(
        select(LoginSession.user_id).where(LoginSession.secret_hash == secret_hash, LoginSession.expires_at > now)
    )
    return None if user_id is None else await get_account(conn, int(user_id))


async def delete_login_session(conn: AsyncConnection, secret_hash: str) -> None:
    await conn.execute(delete(LoginSession).where(LoginSession.secret_hash == secret_hash))


@dataclass(frozen=True, slots=True)
class FirmSettings:
    clients_may_start_threads: bool
    staff_see_all_threads: bool
    read_receipts_to_clients: bool
    urgent_renotify_minutes: int


async def firm_settings(conn: AsyncConnection, firm_id: int) -> FirmSettings:
    row = (
        await conn.execute(
            select(
                Firm.clients_may_start_threads,
                Firm.staff_see_all_threads,
                Firm.read_receipts_to_clients,
                Firm.urgent_renotify_minutes,
            ).where(Firm.id == firm_id)
        )
    ).one()
    return FirmSettings(
        clients_may_start_threads=bool(row.clients_may_start_threads),
        staff_see_all_threads=bool(row.staff_see_all_threads),
        read_receipts_to_clients=bool(row.read_receipts_to_clients),
        urgent_renotify_minutes=int(row.urgent_renotify_minutes),
    )


async def update_firm_settings(conn: AsyncConnection, firm_id: int, values: dict[str, object]) -> None:
    if values:
        await conn.execute(update(Firm).where(Firm.id == firm_id).values(**values))


async def client_account(conn: AsyncConnection, firm_id: int, account_id: int) -> dict[str, object] | None:
    """A client account of the firm with its contacts (its users), or None."""
    row = (
        await conn.execute(
            select(ClientAccount.id, ClientAccount.name, ClientAccount.created_at).where(
                ClientAccount.id == account_id, ClientAccount.firm_id == firm_id
            )
        )
    ).one_or_none()
    if row is None:
        return None
    contacts = await conn.execute(
        select(User.id, User.name, User.email, User.active)
        .where(User.client_account_id == account_id)
        .order_by(User.name)
    )
    return {
        "id": row.id,
        "name": row.name,
        "created_at": format_time(row.created_at),
        "contacts": [{"id": c.id, "name": c.name, "email": c.email, "active": bool(c.active)} for c in contacts],
    }


async def client_user_ids(conn: AsyncConnection, client_account_id: int) -> list[int]:
    rows = await conn.execute(select(User.id).where(User.client_account_id == client_account_id, User.active.is_(True)))
    return [row.id for row in rows]


async def find_user_ids(conn: AsyncConnection, firm_id: int, name: str) -> list[int]:
    """Users of the firm whose id is ``name``, or whose name or email contains it (any case)."""
    needle = name.lower()
    condition = or_(
        func.lower(User.name).contains(needle, autoescape=True),
        func.lower(User.email).contains(needle, autoescape=True),
    )
    if name.isdigit():
        condition = or_(condition, User.id == int(name))
    rows = await conn.execute(select(User.id).where(User.firm_id == firm_id, condition))
    return [row.id for row in rows]


async def find_client_account_ids(conn: AsyncConnection, firm_id: int, name: str) -> list[int]:
    needle = name.lower()
    condition = func.lower(ClientAccount.name).contains(needle, autoescape=True)
    if name.isdigit():
        condition = or_(condition, ClientAccount.id == int(name))
    rows = await conn.execute(select(ClientAccount.id).where(ClientAccount.firm_id == firm_id, condition))
    return [row.id for row in rows]


@dataclass(frozen=True, slots=True)
class Member:
    """A person of the firm as its owners manage them (bots are managed apart, storage.bots)."""

    user: UserValue
    active: bool
    created_at: datetime


async def firm_members(conn: AsyncConnection, firm_id: int, user_id: int | None = None) -> list[Member]:
    """The firm's people (only ``user_id``, when given)."""
    query = (
        select(*_ACCOUNT_COLUMNS, User.created_at)
        .join(Firm, Firm.id == User.firm_id)
        .where(User.firm_id == firm_id, User.role != Role.BOT.value)
        .order_by(User.id)
    )
    if user_id is not None:
        query = query.where(User.id == user_id)
    rows = await conn.execute(query)
    return [Member(user=_account(row).user, active=bool(row.active), created_at=row.created_at) for row in rows]


async def update_member(
    conn: AsyncConnection, user_id: int, *, role: Role | None = None, active: bool | None = None
) -> None:
    values: dict[str, object] = {}
    if role is not None:
        values["role"] = role.value
    if active is not None:
        values["active"] = active
    if values:
        await conn.execute(update(User).where(User.id == user_id).values(**values))


async def live_login_sessions(conn: AsyncConnection, secret_hashes: list[str], now: datetime) -> set[str]:
    """Those of the login sessions that still let their (active) user in."""
    rows = await conn.execute(
        select(LoginSession.secret_hash)
        .join(User, LoginSession.user_id == User.id)
        .where(LoginSession.secret_hash.in_(secret_hashes), LoginSession.expires_at > now, User.active.is_(True))
    )
    return {row.secret_hash for row in rows}


async def live_api_tokens(conn: AsyncConnection, token_ids: list[int], now: datetime) -> set[int]:
    """Those of the tokens that still let their (active) user in: not revoked, not expired."""
    rows = await conn.execute(
        select(ApiToken.id)
        .join(User, ApiToken.user_id == User.id)
        .where(
            ApiToken.id.in_(token_ids),
            ApiToken.revoked_at.is_(None),
            or_(ApiToken.expires_at.is_(None), ApiToken.expires_at > now),
            User.active.is_(True),
        )
    )
    return {int(row.id) for row in rows}


async def delete_login_sessions(conn: AsyncConnection, user_id: int) -> None:
    """End every login session of the user (a password change, a deactivation)."""
    await conn.execute(delete(LoginSession).where(LoginSession.user_id == user_id))
