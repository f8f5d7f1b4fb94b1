"""Firms, users and API tokens: what the CLI and the owners' API create."""

from __future__ import annotations

import re
from datetime import datetime

from chatd import errors
from chatd.auth import MIN_PASSWORD_CHARS, Passwords, digest, new_api_token
from chatd.clock import Clock
from chatd.revocations import Revocations, token_credential
from protocol.values import BotScope, Role, User
from storage import Database, Duplicate
from storage import NotFound as StorageNotFound
from storage import directory as store
from storage.directory import Account

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class Directory:
    def __init__(self, db: Database, clock: Clock, passwords: Passwords, revocations: Revocations) -> None:
        self._db = db
        self._revocations = revocations
        self._clock = clock
        self._passwords = passwords

    async def create_firm(self, name: str) -> int:
        name = name.strip()
        if not name:
            raise errors.BadRequest("a firm needs a name")
        async with self._db.write() as conn:
            return await store.create_firm(conn, name, self._clock.now())

    async def create_user(
        self,
        *,
        firm_id: int,
        email: str,
        name: str,
        role: Role,
        password: str | None,
        client_account_id: int | None = None,
        bot_scope: BotScope | None = None,
        read_only: bool = False,
    ) -> User:
        """Create a user; a client without an account gets a new client account named after them.
        A bot sees the threads it is added to unless ``bot_scope`` says the whole firm."""
        email = email.strip().lower()
        if not _EMAIL.match(email):
            raise errors.BadRequest(f"{email!r} is not an email address")
        if not name.strip():
            raise errors.BadRequest("a user needs a name")
        if password is not None and len(password) < MIN_PASSWORD_CHARS:
            raise errors.BadRequest(f"a password needs at least {MIN_PASSWORD_CHARS} characters")
        if client_account_id is not None and role is not Role.CLIENT:
            raise errors.BadRequest("only clients belong to a client account")
        if role is not Role.BOT and (bot_scope is not None or read_only):
            raise errors.BadRequest("only bots have a scope and a read-only flag")
        if role is Role.BOT:
            bot_scope = bot_scope or BotScope.THREADS
        password_hash = None if password is None else await self._passwords.hash(password)
        now = self._clock.now()
        async with self._db.write() as conn:
            if not await store.firm_exists(conn, firm_id):
                raise errors.NotFound(f"firm {firm_id} not found")
            if role is Role.CLIENT:
                if client_account_id is None:
                    client_account_id = await store.create_client_account(conn, firm_id, name.strip(), now)
                elif await store.client_account_firm(conn, client_account_id) != firm_id:
                    raise errors.NotFound(f"client account {client_account_id} not found")
            try:
                return await store.create_user(
                    conn,
                    firm_id=firm_id,
                    email=email,
                    name=name.strip(),
                    role=role,
                    password_hash=password_hash,
                    client_account_id=client_account_id,
                    now=now,
                    bot_scope=bot_scope,
                    read_only=read_only,
                )
            except Duplicate:
                raise errors.Conflict(f"a user with email {email} exists") from None

    async def set_password(self, user_id: int, password: str) -> None:
        if len(password) < MIN_PASSWORD_CHARS:
            raise errors.BadRequest(f"a password needs at least {MIN_PASSWORD_CHARS} characters")
        password_hash = await self._passwords.hash(password)
        async with self._db.write() as conn:
            await store.set_password_hash(conn, user_id, password_hash)

    async def create_token(self, user_id: int, label: str = "", expires_at: datetime | None = None) -> tuple[int, str]:
        """A new API token for the user: (its id, the token itself, shown this once only)."""
        token = new_api_token()
        now = self._clock.now()
        if expires_at is not None and expires_at <= now:
            raise errors.BadRequest("a token's expiry must be in the future")
        async with self._db.write() as conn:
            try:
                await store.get_account(conn, user_id)
            except StorageNotFound:
                raise errors.NotFound(f"user {user_id} not found") from None
            token_id = await store.create_api_token(conn, user_id, digest(token), label, now, expires_at)
        return token_id, token

    async def revoke_token(self, token_id: int, *, owner_id: int | None = None) -> int:
        """Revoke a token (only the given user's, when ``owner_id`` is set); returns its user's id."""
        async with self._db.write() as conn:
            if owner_id is not None and await store.api_token_owner(conn, token_id) != owner_id:
                raise errors.NotFound(f"token {token_id} not found")
            try:
                user_id = await store.revoke_api_token(conn, token_id, self._clock.now())
            except StorageNotFound:
                raise errors.NotFound(f"token {token_id} not found") from None
        self._revocations.revoke(user_id, token_credential(token_id))
        return user_id

    async def find_firm(self, name: str) -> int | None:
        async with self._db.read() as conn:
            return await store.find_firm_by_name(conn, name)

    async def token_owner(self, token_id: int) -> int | None:
        async with self._db.read() as conn:
            return await store.api_token_owner(conn, token_id)

    async def account(self, user_id: int) -> Account | None:
        async with self._db.read() as conn:
            try:
                return await store.get_account(conn, user_id)
            except StorageNotFound:
                return None

    async def find_account(self, email: str) -> Account | None:
        async with self._db.read() as conn:
            return await store.find_account_by_email(conn, email.strip().lower())
