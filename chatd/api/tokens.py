"""API tokens: a user makes and revokes their own; owners do so for the firm's bots."""

from __future__ import annotations

from typing import Annotated

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from chatd import errors
from chatd.api.common import account, body, json, path_id, services
from protocol.frames import PositiveId
from protocol.values import Role
from storage.directory import Account


class NewToken(msgspec.Struct, forbid_unknown_fields=True):
    label: Annotated[str, msgspec.Meta(max_length=200)] = ""
    # An owner may make a token for a bot of the firm.
    user_id: PositiveId | None = None


async def create_token(request: Request) -> Response:
    caller, new = await account(request), await body(request, NewToken)
    target = new.user_id or caller.user.id
    if not await _may_manage(request, caller, target):
        raise errors.NotFound(f"user {target} not found")
    token_id, token = await services(request).directory.create_token(target, new.label)
    return json({"id": token_id, "user_id": target, "token": token}, 201)


async def revoke_token(request: Request) -> Response:
    caller = await account(request)
    svc = services(request)
    token_id = path_id(request, "token_id")
    if caller.user.role is Role.OWNER:
        owner = await svc.directory.token_owner(token_id)
        # Refused as a missing token: whose it is stays unsaid.
        if owner is None or not await _may_manage(request, caller, owner):
            raise errors.NotFound(f"token {token_id} not found")
        await svc.directory.revoke_token(token_id)
    else:
        await svc.directory.revoke_token(token_id, owner_id=caller.user.id)
    return Response(status_code=204)


async def _may_manage(request: Request, caller: Account, user_id: int) -> bool:
    """Callers manage their own tokens; owners also those of the firm's bots."""
    if user_id == caller.user.id:
        return True
    target = await services(request).directory.account(user_id)
    return (
        caller.user.role is Role.OWNER
        and target is not None
        and target.user.firm_id == caller.user.firm_id
        and target.user.role is Role.BOT
    )


routes = [
    Route("/api/tokens", create_token, methods=["POST"]),
    Route("/api/tokens/{token_id:int}", revoke_token, methods=["DELETE"]),
]
