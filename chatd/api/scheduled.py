"""Scheduled messages over HTTP: the same service calls as the ``scheduled.*`` WebSocket ops."""

from __future__ import annotations

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from chatd.api.common import account, body, json, path_id, query, services
from protocol.frames import CopyChannels, PositiveId, SendAt


class ScheduledQuery(msgspec.Struct, forbid_unknown_fields=True):
    thread_id: PositiveId | None = None
    include_done: bool = False


class ScheduledChange(msgspec.Struct, forbid_unknown_fields=True):
    body: str | None = None
    send_at: SendAt | None = None
    copy_to: CopyChannels | msgspec.UnsetType | None = msgspec.UNSET


async def list_scheduled(request: Request) -> Response:
    caller, wanted = await account(request), query(request, ScheduledQuery)
    found = await services(request).scheduled_sends.list(
        caller, thread_id=wanted.thread_id, include_done=wanted.include_done
    )
    return json({"scheduled": found})


async def edit_scheduled(request: Request) -> Response:
    caller, change = await account(request), await body(request, ScheduledChange)
    edited = await services(request).scheduled_sends.edit(
        caller,
        scheduled_id=path_id(request, "scheduled_id"),
        body=change.body,
        send_at=change.send_at,
        copy_to=change.copy_to,
    )
    return json({"scheduled": edited})


async def cancel_scheduled(request: Request) -> Response:
    caller = await account(request)
    cancelled = await services(request).scheduled_sends.cancel(caller, scheduled_id=path_id(request, "scheduled_id"))
    return json({"scheduled": cancelled})


routes = [
    Route("/api/scheduled", list_scheduled, methods=["GET"]),
    Route("/api/scheduled/{scheduled_id:int}", edit_scheduled, methods=["PATCH"]),
    Route("/api/scheduled/{scheduled_id:int}", cancel_scheduled, methods=["DELETE"]),
]
