"""Notifications over HTTP: a user's notifications and settings; failed deliveries for staff."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from chatd import errors
from chatd.api.common import account, body, json, path_id, query, services
from protocol.frames import PageLimit, PositiveId
from protocol.values import Channel, CopyChannel, NotificationKind, Role, format_time
from storage import due as due_store
from storage.due import DueItem

Phone = Annotated[str, msgspec.Meta(pattern=r"^\+?[0-9 .()-]{6,24}$")]


class NotificationPage(msgspec.Struct, forbid_unknown_fields=True):
    unread: bool = False
    before: PositiveId | None = None
    limit: PageLimit = 50


class MarkRead(msgspec.Struct, forbid_unknown_fields=True):
    # Absent: all of them.
    ids: Annotated[list[PositiveId], msgspec.Meta(max_length=500)] | None = None


class SettingsChange(msgspec.Struct, forbid_unknown_fields=True):
    phone: Phone | None = None
    clear_phone: bool = False
    channels: dict[NotificationKind, list[Channel]] = {}
    # Staff: how their messages are copied to clients when a send does not say.
    copy_to_client: list[CopyChannel] | None = None


class DeliveryQuery(msgspec.Struct, forbid_unknown_fields=True):
    state: Annotated[str, msgspec.Meta(pattern="^(failed|pending|done)$")] = "failed"
    before: PositiveId | None = None
    limit: PageLimit = 50


async def list_notifications(request: Request) -> Response:
    caller, page = await account(request), query(request, NotificationPage)
    found = await services(request).notifications.recent(
        caller.user.id, unread_only=page.unread, before_id=page.before, limit=page.limit
    )
    return json({"notifications": found})


async def mark_read(request: Request) -> Response:
    caller, marked = await account(request), await body(request, MarkRead)
    count = await services(request).notifications.mark_read(caller.user.id, marked.ids)
    return json({"marked": count})


async def get_settings(request: Request) -> Response:
    caller = await account(request)
    found = await services(request).notifications.settings_of(caller.user.id, caller.user.role)
    return json({"settings": found})


async def change_settings(request: Request) -> Response:
    caller, change = await account(request), await body(request, SettingsChange)
    channels = {kind.value: sorted({c.value for c in chosen}) for kind, chosen in change.channels.items()}
    found = await services(request).notifications.change_settings(
        caller.user.id,
        caller.user.role,
        phone=change.phone,
        clear_phone=change.clear_phone,
        channels=channels,
        copy_to_client=None if change.copy_to_client is None else sorted({c.value for c in change.copy_to_client}),
    )
    return json({"settings": found})


def _delivery(item: DueItem) -> dict[str, Any]:
    return {
        "id": item.id,
        "kind": item.kind,
        "state": item.state,
        "attempts": item.attempts,
        "last_error": item.last_error,
        "due_at": format_time(item.due_at),
        "created_at": format_time(item.created_at),
        "finished_at": format_time(item.finished_at) if item.finished_at else None,
    }


def _staff_firm(role: Role, firm_id: int) -> int:
    if role not in (Role.OWNER, Role.MANAGER, Role.STAFF):
        raise errors.NotFound("no deliveries here")
    return firm_id


async def list_deliveries(request: Request) -> Response:
    caller, wanted = await account(request), query(request, DeliveryQuery)
    firm_id = _staff_firm(caller.user.role, caller.user.firm_id)
    svc = services(request)
    async with svc.db.read() as conn:
        found = await due_store.list_items(
            conn,
            firm_id=firm_id,
            kinds=svc.scheduler.due.delivery_kinds,
            states=[wanted.state],
            limit=wanted.limit,
            before_id=wanted.before,
        )
    return json({"deliveries": [_delivery(item) for item in found]})


async def retry_delivery(request: Request) -> Response:
    caller = await account(request)
    firm_id = _staff_firm(caller.user.role, caller.user.firm_id)
    svc, delivery_id = services(request), path_id(request, "delivery_id")
    async with svc.db.write() as conn:
        item = await due_store.retry_now(
            conn, delivery_id, firm_id, svc.clock.now(), kinds=svc.scheduler.due.delivery_kinds
        )
    if item is None:
        raise errors.NotFound(f"failed delivery {delivery_id} not found")
    return json({"delivery": _delivery(item)})


routes = [
    Route("/api/notifications", list_notifications, methods=["GET"]),
    Route("/api/notifications/read", mark_read, methods=["POST"]),
    Route("/api/notifications/settings", get_settings, methods=["GET"]),
    Route("/api/notifications/settings", change_settings, methods=["PATCH"]),
    Route("/api/deliveries", list_deliveries, methods=["GET"]),
    Route("/api/deliveries/{delivery_id:int}/retry", retry_delivery, methods=["POST"]),
]
