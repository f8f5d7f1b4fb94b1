"""What a client app looks up to draw its screens: names behind ids, thread previews, read markers."""

from __future__ import annotations

from typing import Annotated

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from chatd import errors
from chatd.api.common import account, json, path_id, query, services
from protocol.values import format_time
from storage import NotFound
from storage import lookups as store
from storage import messages as message_store

MAX_IDS = 100


class MessageIds(msgspec.Struct, forbid_unknown_fields=True):
    # Comma-separated ids, e.g. the last_message_id of each listed thread.
    ids: Annotated[str, msgspec.Meta(max_length=MAX_IDS * 21)]

    def parsed(self) -> list[int]:
        try:
            found = [int(part) for part in self.ids.split(",") if part.strip()]
        except ValueError:
            raise errors.BadRequest("ids must be comma-separated integers") from None
        if len(found) > MAX_IDS or any(n < 1 for n in found):
            raise errors.BadRequest(f"ids takes 1 to {MAX_IDS} positive integers")
        return found


async def list_people(request: Request) -> Response:
    caller = await account(request)
    async with services(request).db.read() as conn:
        users, accounts = await store.people(conn, caller.viewer)
    return json({"users": users, "client_accounts": accounts})


async def list_messages(request: Request) -> Response:
    caller, ids = await account(request), query(request, MessageIds).parsed()
    async with services(request).db.read() as conn:
        found = await message_store.visible_messages(conn, caller.viewer, ids)
    return json({"messages": [m.for_author() if m.value.author_id == caller.user.id else m.value for m in found]})


async def list_readers(request: Request) -> Response:
    caller, thread_id = await account(request), path_id(request, "thread_id")
    try:
        async with services(request).db.read() as conn:
            found = await store.readers(conn, caller.viewer, thread_id)
    except NotFound:
        raise errors.NotFound(f"thread {thread_id} not found") from None
    readers = [
        {"user_id": r.user_id, "message_id": r.message_id, "read_at": r.read_at and format_time(r.read_at)}
        for r in found
    ]
    return json({"readers": readers})


routes = [
    Route("/api/people", list_people, methods=["GET"]),
    Route("/api/messages", list_messages, methods=["GET"]),
    Route("/api/threads/{thread_id:int}/readers", list_readers, methods=["GET"]),
]
