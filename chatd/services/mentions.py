"""The composer's @ autocomplete: teammates the caller may mention in a thread, matching what was typed.

Mentions themselves are parsed when a message is sent (chatd/richtext.py) and acted on by
``Conversations`` (a ``mention`` event, a notification, joining the thread).
"""

from __future__ import annotations

from typing import Any

from chatd.services.conversations import Conversations
from storage import Database
from storage.directory import Account


async def suggest(
    db: Database, conversations: Conversations, account: Account, *, thread_id: int, query: str, limit: int
) -> list[dict[str, Any]]:
    """Matching teammates, those already in the thread first, then by name: ``query`` (without the
    ``@``) starts the handle, the name or a word of the name, case-insensitively."""
    wanted = query.removeprefix("@").strip().lower()
    async with db.read() as conn:
        facts = await conversations.visible_thread(conn, account, thread_id)
        people = await conversations.mentionable(conn, account, thread_id)
    matching = [
        p
        for p in people
        if not wanted
        or p.handle.startswith(wanted)
        or p.name.lower().startswith(wanted)
        or any(word.startswith(wanted) for word in p.name.lower().split())
    ]
    matching.sort(key=lambda p: (p.id not in facts.member_ids, p.name.lower(), p.id))
    return [
        {"id": p.id, "name": p.name, "handle": p.handle, "role": p.role.value, "in_thread": p.id in facts.member_ids}
        for p in matching[:limit]
    ]
