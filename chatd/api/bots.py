"""Bots over HTTP, for the firm's owners: create, list, change, tokens, and the threads they join."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from chatd import errors
from chatd.api.common import account, body, json, path_id, services
from protocol.frames import PositiveId
from protocol.values import BotScope, format_time
from storage.bots import BotRecord, TokenRecord

Name = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]


class NewBot(msgspec.Struct, forbid_unknown_fields=True):
    name: Name
    scope: BotScope = BotScope.THREADS
    read_only: bool = False
    email: Annotated[str, msgspec.Meta(max_length=320)] | None = None


class BotChange(msgspec.Struct, forbid_unknown_fields=True):
    name: Name | None = None
    scope: BotScope | None = None
    read_only: bool | None = None
    active: bool | None = None


class NewBotToken(msgspec.Struct, forbid_unknown_fields=True):
    label: Annotated[str, msgspec.Meta(max_length=200)] = ""
    # An aware ISO 8601 time; omitted: the token lasts until revoked.
    expires_at: datetime | None = None


class ThreadRef(msgspec.Struct, forbid_unknown_fields=True):
    thread_id: PositiveId


def bot_json(bot: BotRecord) -> dict[str, Any]:
    return {
        "id": bot.id,
        "firm_id": bot.firm_id,
        "name": bot.name,
        "email": bot.email,
        "role": "bot",
        "scope": bot.scope.value,
        "read_only": bot.read_only,
        "active": bot.active,
        "created_at": format_time(bot.created_at),
    }


def token_json(token: TokenRecord) -> dict[str, Any]:
    def when(moment: datetime | None) -> str | None:
        return None if moment is None else format_time(moment)

    return {
        "id": token.id,
        "label": token.label,
        "created_at": when(token.created_at),
        "last_used_at": when(token.last_used_at),
        "expires_at": when(token.expires_at),
        "revoked_at": when(token.revoked_at),
    }


async def create_bot(request: Request) -> Response:
    owner, new = await account(request), await body(request, NewBot)
    bot = await services(request).bots.create(
        owner, name=new.name, email=new.email, scope=new.scope, read_only=new.read_only
    )
    return json({"bot": bot_json(bot)}, 201)


async def list_bots(request: Request) -> Response:
    owner = await account(request)
    return json({"bots": [bot_json(bot) for bot in await services(request).bots.all(owner)]})


async def get_bot(request: Request) -> Response:
    owner = await account(request)
    return json({"bot": bot_json(await services(request).bots.get(owner, path_id(request, "bot_id")))})


async def change_bot(request: Request) -> Response:
    owner, change = await account(request), await body(request, BotChange)
    bot = await services(request).bots.update(
        owner,
        path_id(request, "bot_id"),
        name=change.name,
        scope=change.scope,
        read_only=change.read_only,
        active=change.active,
    )
    return json({"bot": bot_json(bot)})


async def create_bot_token(request: Request) -> Response:
    owner, new = await account(request), await body(request, NewBotToken)
    bot_id = path_id(request, "bot_id")
    token_id, token = await services(request).bots.create_token(
        owner, bot_id, label=new.label, expires_at=_aware(new.expires_at)
    )
    expires = None if new.expires_at is None else format_time(new.expires_at)
    return json({"id": token_id, "user_id": bot_id, "token": token, "expires_at": expires}, 201)


async def list_bot_tokens(request: Request) -> Response:
    owner = await account(request)
    tokens = await services(request).bots.tokens(owner, path_id(request, "bot_id"))
    return json({"tokens": [token_json(token) for token in tokens]})


async def revoke_bot_token(request: Request) -> Response:
    owner = await account(request)
    await services(request).bots.revoke_token(owner, path_id(request, "bot_id"), path_id(request, "token_id"))
    return Response(status_code=204)


async def add_bot_to_thread(request: Request) -> Response:
    owner, ref = await account(request), await body(request, ThreadRef)
    await services(request).bots.add_to_thread(owner, path_id(request, "bot_id"), ref.thread_id)
    return Response(status_code=204)


async def remove_bot_from_thread(request: Request) -> Response:
    owner = await account(request)
    await services(request).bots.remove_from_thread(owner, path_id(request, "bot_id"), path_id(request, "thread_id"))
    return Response(status_code=204)


def _aware(moment: datetime | None) -> datetime | None:
    if moment is not None and moment.tzinfo is None:
        raise errors.BadRequest("expires_at needs a time zone (e.g. 2027-01-01T00:00:00Z)")
    return moment


routes = [
    Route("/api/bots", create_bot, methods=["POST"]),
    Route("/api/bots", list_bots, methods=["GET"]),
    Route("/api/bots/{bot_id:int}", get_bot, methods=["GET"]),
    Route("/api/bots/{bot_id:int}", change_bot, methods=["PATCH"]),
    Route("/api/bots/{bot_id:int}/tokens", create_bot_token, methods=["POST"]),
    Route("/api/bots/{bot_id:int}/tokens", list_bot_tokens, methods=["GET"]),
    Route("/api/bots/{bot_id:int}/tokens/{token_id:int}", revoke_bot_token, methods=["DELETE"]),
    Route("/api/bots/{bot_id:int}/threads", add_bot_to_thread, methods=["POST"]),
    Route("/api/bots/{bot_id:int}/threads/{thread_id:int}", remove_bot_from_thread, methods=["DELETE"]),
]
