"""The firm's people over HTTP, for its owners: list, add, change role, deactivate, reactivate."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from chatd.api.common import account, body, json, path_id, services
from protocol.frames import PositiveId
from protocol.values import Role, format_time
from storage.directory import Member


class NewMember(msgspec.Struct, forbid_unknown_fields=True):
    email: Annotated[str, msgspec.Meta(max_length=320)]
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    role: Role
    password: Annotated[str, msgspec.Meta(max_length=1024)]
    # A client joins this client account; without it, a new account named after them is made.
    client_account_id: PositiveId | None = None


class MemberChange(msgspec.Struct, forbid_unknown_fields=True):
    role: Role | None = None
    active: bool | None = None


def member_json(member: Member) -> dict[str, Any]:
    return {**msgspec.to_builtins(member.user), "active": member.active, "created_at": format_time(member.created_at)}


async def list_users(request: Request) -> Response:
    members = await services(request).team.members(await account(request))
    return json({"users": [member_json(m) for m in members]})


async def create_user(request: Request) -> Response:
    owner, new = await account(request), await body(request, NewMember)
    member = await services(request).team.add(
        owner,
        email=new.email,
        name=new.name,
        role=new.role,
        password=new.password,
        client_account_id=new.client_account_id,
    )
    return json({"user": member_json(member)}, 201)


async def get_user(request: Request) -> Response:
    member = await services(request).team.get(await account(request), path_id(request, "user_id"))
    return json({"user": member_json(member)})


async def change_user(request: Request) -> Response:
    owner, change = await account(request), await body(request, MemberChange)
    member = await services(request).team.change(
        owner, path_id(request, "user_id"), role=change.role, active=change.active
    )
    return json({"user": member_json(member)})


routes = [
    Route("/api/users", list_users, methods=["GET"]),
    Route("/api/users", create_user, methods=["POST"]),
    Route("/api/users/{user_id:int}", get_user, methods=["GET"]),
    Route("/api/users/{user_id:int}", change_user, methods=["PATCH"]),
]
