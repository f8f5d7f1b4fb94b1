"""A bot's outgoing webhook, for the firm's owners: set it (the secret is shown then), see its
health (why it was disabled), turn it back on, remove it."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from chatd.api.common import account, body, json, path_id, query, services
from chatd.services.webhooks import Status
from protocol.frames import PageLimit
from protocol.values import format_time
from storage.webhooks import DeliveryRecord, WebhookRecord


class WebhookTarget(msgspec.Struct, forbid_unknown_fields=True):
    url: Annotated[str, msgspec.Meta(min_length=1, max_length=2000)]


class DeliveryPage(msgspec.Struct, forbid_unknown_fields=True):
    limit: PageLimit = 50


def webhook_json(webhook: WebhookRecord) -> dict[str, Any]:
    def when(moment: datetime | None) -> str | None:
        return None if moment is None else format_time(moment)

    return {
        "id": webhook.id,
        "bot_id": webhook.bot_id,
        "url": webhook.url,
        "active": webhook.active,
        "disabled_reason": webhook.disabled_reason,
        "disabled_at": when(webhook.disabled_at),
        "consecutive_failures": webhook.consecutive_failures,
        "last_success_at": when(webhook.last_success_at),
        "last_failure_at": when(webhook.last_failure_at),
        "last_error": webhook.last_error,
        "created_at": when(webhook.created_at),
    }


def _status_json(status: Status) -> dict[str, Any]:
    return {"webhook": {**webhook_json(status.webhook), "deliveries": status.deliveries}}


async def set_webhook(request: Request) -> Response:
    owner, target = await account(request), await body(request, WebhookTarget)
    webhook = await services(request).webhooks.configure(owner, path_id(request, "bot_id"), target.url)
    # The signing secret is shown here only, like a token.
    return json({"webhook": {**webhook_json(webhook), "secret": webhook.secret}}, 201)


async def get_webhook(request: Request) -> Response:
    owner = await account(request)
    return json(_status_json(await services(request).webhooks.status(owner, path_id(request, "bot_id"))))


async def list_deliveries(request: Request) -> Response:
    owner, page = await account(request), query(request, DeliveryPage)
    found = await services(request).webhooks.deliveries(owner, path_id(request, "bot_id"), page.limit)
    return json({"deliveries": [delivery_json(d) for d in found]})


def delivery_json(delivery: DeliveryRecord) -> dict[str, Any]:
    return {
        "id": delivery.id,
        "event_id": delivery.event_id,
        "event_type": delivery.event_type,
        "state": delivery.state,
        "attempts": delivery.attempts,
        "next_attempt_at": format_time(delivery.due_at) if delivery.state == "pending" else None,
        "last_error": delivery.last_error,
        "created_at": format_time(delivery.created_at),
        "delivered_at": None if delivery.delivered_at is None else format_time(delivery.delivered_at),
    }


async def enable_webhook(request: Request) -> Response:
    owner = await account(request)
    return json(_status_json(await services(request).webhooks.enable(owner, path_id(request, "bot_id"))))


async def delete_webhook(request: Request) -> Response:
    owner = await account(request)
    await services(request).webhooks.remove(owner, path_id(request, "bot_id"))
    return Response(status_code=204)


routes = [
    Route("/api/bots/{bot_id:int}/webhook", set_webhook, methods=["PUT"]),
    Route("/api/bots/{bot_id:int}/webhook", get_webhook, methods=["GET"]),
    Route("/api/bots/{bot_id:int}/webhook", delete_webhook, methods=["DELETE"]),
    Route("/api/bots/{bot_id:int}/webhook/enable", enable_webhook, methods=["POST"]),
    Route("/api/bots/{bot_id:int}/webhook/deliveries", list_deliveries, methods=["GET"]),
]
