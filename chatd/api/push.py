"""Web push over HTTP: the VAPID public key for the browser, and the caller's push subscriptions."""

from __future__ import annotations

from typing import Annotated

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from chatd.api.common import account, body, json, services
from storage.push import Subscription

Endpoint = Annotated[str, msgspec.Meta(min_length=1, max_length=2000)]


class Keys(msgspec.Struct, forbid_unknown_fields=True):
    p256dh: Annotated[str, msgspec.Meta(max_length=200)]
    auth: Annotated[str, msgspec.Meta(max_length=100)]


class SubscriptionIn(msgspec.Struct):
    """What the browser's ``PushSubscription.toJSON()`` gives (``expirationTime`` is ignored)."""

    endpoint: Endpoint
    keys: Keys


class Unsubscribe(msgspec.Struct, forbid_unknown_fields=True):
    endpoint: Endpoint


def _shown(found: Subscription) -> dict[str, object]:
    return {"id": found.id, "endpoint": found.endpoint, "created_at": found.created_at}


async def public_key(request: Request) -> Response:
    """Public by nature: the browser passes it to ``pushManager.subscribe`` as applicationServerKey."""
    return json({"public_key": await services(request).web_push.public_key()})


async def list_subscriptions(request: Request) -> Response:
    caller = await account(request)
    found = await services(request).web_push.subscriptions(caller)
    return json({"subscriptions": [_shown(s) for s in found]})


async def subscribe(request: Request) -> Response:
    caller, given = await account(request), await body(request, SubscriptionIn)
    saved = await services(request).web_push.subscribe(
        caller, endpoint=given.endpoint, p256dh=given.keys.p256dh, auth=given.keys.auth
    )
    return json({"subscription": _shown(saved)}, 201)


async def unsubscribe(request: Request) -> Response:
    caller, given = await account(request), await body(request, Unsubscribe)
    return json({"removed": await services(request).web_push.unsubscribe(caller, endpoint=given.endpoint)})


routes = [
    Route("/api/push/key", public_key, methods=["GET"]),
    Route("/api/push/subscriptions", list_subscriptions, methods=["GET"]),
    Route("/api/push/subscriptions", subscribe, methods=["POST"]),
    Route("/api/push/subscriptions", unsubscribe, methods=["DELETE"]),
]
