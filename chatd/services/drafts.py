"""Drafts: the composer's unsent text, saved per user and thread, read back on any device."""

from __future__ import annotations

from chatd import errors
from chatd.clock import Clock
from chatd.config import Settings
from protocol.values import Draft
from storage import Database
from storage import NotFound as StorageNotFound
from storage import drafts as store
from storage import threads as thread_store
from storage.directory import Account


class Drafts:
    def __init__(self, db: Database, clock: Clock, settings: Settings) -> None:
        self._db = db
        self._clock = clock
        self._settings = settings

    async def save(self, account: Account, *, thread_id: int, body: str) -> None:
        """Keep the text (an empty or blank body forgets the draft)."""
        if len(body) > self._settings.max_body_chars:
            raise errors.TooLarge(f"body is over {self._settings.max_body_chars} characters")
        async with self._db.write() as conn:
            try:
                await thread_store.visible_thread_facts(conn, account.viewer, thread_id)
            except StorageNotFound:
                raise errors.NotFound(f"thread {thread_id} not found") from None
            await store.save_draft(conn, account.user.id, thread_id, body, self._clock.now())

    async def list(self, account: Account, *, thread_id: int | None) -> list[Draft]:
        async with self._db.read() as conn:
            return await store.drafts_of(conn, account.user.id, thread_id)
