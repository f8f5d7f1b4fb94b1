"""Editing sent messages: the firm's edit window, and earlier versions kept for staff."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncConnection

from chatd import errors
from chatd.clock import Clock
from protocol.values import MessageVersion, Role
from storage import Database
from storage import NotFound as StorageNotFound
from storage import edits as store
from storage import messages as message_store
from storage.directory import Account
from storage.messages import StoredMessage

MAX_EDIT_WINDOW_MINUTES = 7 * 24 * 60


async def check_and_keep(conn: AsyncConnection, firm_id: int, message: StoredMessage, now: datetime) -> None:
    """In the editing transaction: refuse an edit after the window, else keep the body being replaced."""
    minutes = await store.edit_window_minutes(conn, firm_id)
    created = datetime.fromisoformat(message.value.created_at)
    if now - created > timedelta(minutes=minutes):
        raise errors.Conflict(f"messages can be edited for {minutes} minutes after sending; this one no longer")
    written_at = datetime.fromisoformat(message.value.edited_at or message.value.created_at)
    await store.keep_version(conn, message.value.id, message.value.body, written_at)


class EditHistory:
    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    async def versions(self, account: Account, message_id: int) -> list[MessageVersion]:
        """Earlier bodies of a message, oldest first; staff only (clients: not_found)."""
        async with self._db.read() as conn:
            try:
                if account.user.role.is_client:
                    raise StorageNotFound(f"message {message_id}")
                await message_store.visible_message(conn, account.viewer, message_id)
            except StorageNotFound:
                raise errors.NotFound(f"message {message_id} not found") from None
            return await store.versions_of(conn, message_id)

    async def window(self, account: Account) -> int:
        async with self._db.read() as conn:
            return await store.edit_window_minutes(conn, account.user.firm_id)

    async def set_window(self, account: Account, minutes: int) -> None:
        if account.user.role is not Role.OWNER:
            raise errors.NotFound("only owners set the edit window")
        if not 0 <= minutes <= MAX_EDIT_WINDOW_MINUTES:
            raise errors.BadRequest(f"the edit window is 0 to {MAX_EDIT_WINDOW_MINUTES} minutes")
        async with self._db.write() as conn:
            await store.set_edit_window(conn, account.user.firm_id, minutes)
