"""Checks several services share: the people a request names, the messages it points at, its cursors."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection

from chatd import errors
from protocol.values import Role
from storage import NotFound as StorageNotFound
from storage import directory as directory_store
from storage import messages as message_store
from storage.directory import Account
from storage.messages import StoredMessage
from storage.threads import ThreadFacts


async def check_named_user(conn: AsyncConnection, account: Account, facts: ThreadFacts, user_id: int) -> Role:
    """A user named on a message or task must be staff of the firm or a client of the thread's
    account; clients may only name their own account's users and the thread's members.
    Returns the user's role."""
    role = (await directory_store.firm_user_ids(conn, account.user.firm_id, [user_id])).get(user_id)
    if role is None:
        raise errors.NotFound(f"user {user_id} not found")
    if role is Role.CLIENT:
        if await directory_store.client_account_of(conn, user_id) != facts.client_account_id:
            raise errors.BadRequest(f"user {user_id} is a client of another account")
    elif account.user.role.is_client and user_id not in facts.member_ids:
        raise errors.NotFound(f"user {user_id} not found")
    return role


async def visible_message(conn: AsyncConnection, account: Account, message_id: int) -> StoredMessage:
    """A message the caller may see, or not_found (whether it is missing or hidden)."""
    try:
        return await message_store.visible_message(conn, account.viewer, message_id)
    except StorageNotFound:
        raise errors.NotFound(f"message {message_id} not found") from None


def parse_cursor(cursor: str | None) -> int | None:
    """An id cursor this server gave (None or empty for the first page), or bad_request."""
    if not cursor:
        return None
    if not cursor.isdigit():
        raise errors.BadRequest("cursor is not one this server gave")
    return int(cursor)
