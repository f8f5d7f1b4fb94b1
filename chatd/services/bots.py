"""Bots as their firm's owners manage them: create, list, change, tokens, and the threads they join."""

from __future__ import annotations

import secrets
from datetime import datetime

from chatd import errors
from chatd.clock import Clock
from chatd.revocations import Revocations
from chatd.services.directory import Directory
from protocol.values import BotScope, Role
from storage import Database
from storage import NotFound as StorageNotFound
from storage import bots as bot_store
from storage import threads as thread_store
from storage.bots import BotRecord, TokenRecord
from storage.directory import Account


class Bots:
    def __init__(self, db: Database, clock: Clock, directory: Directory, revocations: Revocations) -> None:
        self._db = db
        self._revocations = revocations
        self._clock = clock
        self._directory = directory

    async def create(
        self, owner: Account, *, name: str, email: str | None, scope: BotScope, read_only: bool
    ) -> BotRecord:
        _check_owner(owner)
        # A bot never logs in: an address of its own under the reserved .invalid domain is enough.
        address = email or f"bot-{secrets.token_hex(6)}@bots.chatd.invalid"
        user = await self._directory.create_user(
            firm_id=owner.user.firm_id,
            email=address,
            name=name,
            role=Role.BOT,
            password=None,
            bot_scope=scope,
            read_only=read_only,
        )
        return await self.get(owner, user.id)

    async def all(self, owner: Account) -> list[BotRecord]:
        _check_owner(owner)
        async with self._db.read() as conn:
            return await bot_store.firm_bots(conn, owner.user.firm_id)

    async def get(self, owner: Account, bot_id: int) -> BotRecord:
        _check_owner(owner)
        async with self._db.read() as conn:
            bot = await bot_store.get_bot(conn, owner.user.firm_id, bot_id)
        if bot is None:
            raise errors.NotFound(f"bot {bot_id} not found")
        return bot

    async def update(
        self,
        owner: Account,
        bot_id: int,
        *,
        name: str | None,
        scope: BotScope | None,
        read_only: bool | None,
        active: bool | None,
    ) -> BotRecord:
        await self.get(owner, bot_id)
        if name is not None and not name.strip():
            raise errors.BadRequest("a bot needs a name")
        async with self._db.write() as conn:
            await bot_store.update_bot(
                conn,
                bot_id,
                name=None if name is None else name.strip(),
                scope=scope,
                read_only=read_only,
                active=active,
            )
        if scope is not None or read_only is not None or active is False:
            # Open sessions hold the bot's old scope and write permission: they reconnect with the new.
            self._revocations.revoke(bot_id)
        return await self.get(owner, bot_id)

    async def create_token(
        self, owner: Account, bot_id: int, *, label: str, expires_at: datetime | None
    ) -> tuple[int, str]:
        await self.get(owner, bot_id)
        return await self._directory.create_token(bot_id, label, expires_at)

    async def tokens(self, owner: Account, bot_id: int) -> list[TokenRecord]:
        await self.get(owner, bot_id)
        async with self._db.read() as conn:
            return await bot_store.tokens_of(conn, bot_id)

    async def revoke_token(self, owner: Account, bot_id: int, token_id: int) -> None:
        await self.get(owner, bot_id)
        await self._directory.revoke_token(token_id, owner_id=bot_id)

    async def add_to_thread(self, owner: Account, bot_id: int, thread_id: int) -> None:
        """Add the bot to a thread the owner sees; a bot scoped to its threads then sees it."""
        await self.get(owner, bot_id)
        async with self._db.write() as conn:
            try:
                await thread_store.visible_thread_facts(conn, owner.viewer, thread_id)
            except StorageNotFound:
                raise errors.NotFound(f"thread {thread_id} not found") from None
            await thread_store.add_participants(conn, thread_id, [bot_id], self._clock.now())

    async def remove_from_thread(self, owner: Account, bot_id: int, thread_id: int) -> None:
        await self.get(owner, bot_id)
        async with self._db.write() as conn:
            try:
                await thread_store.visible_thread_facts(conn, owner.viewer, thread_id)
            except StorageNotFound:
                raise errors.NotFound(f"thread {thread_id} not found") from None
            if not await bot_store.remove_participant(conn, thread_id, bot_id):
                raise errors.NotFound(f"bot {bot_id} is not in thread {thread_id}")


def _check_owner(caller: Account) -> None:
    # Others learn nothing of the firm's bots.
    if caller.user.role is not Role.OWNER:
        raise errors.NotFound("bots are managed by the firm's owners")
