"""Signatures over HTTP: each staff member's own, and the firm's (owners only)."""

from __future__ import annotations

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from chatd.api.common import account, body, json, services


class MineIn(msgspec.Struct, forbid_unknown_fields=True):
    signature: str


class FirmIn(msgspec.Struct, forbid_unknown_fields=True):
    signature: str
    # Absent: keep the current template.
    template: str | None = None


async def get_mine(request: Request) -> Response:
    return json(await services(request).signatures.mine(await account(request)))


async def set_mine(request: Request) -> Response:
    caller, wanted = await account(request), await body(request, MineIn)
    return json(await services(request).signatures.set_mine(caller, wanted.signature))


async def get_firm(request: Request) -> Response:
    return json(await services(request).signatures.firm(await account(request)))


async def set_firm(request: Request) -> Response:
    caller, wanted = await account(request), await body(request, FirmIn)
    return json(await services(request).signatures.set_firm(caller, wanted.signature, wanted.template))


routes = [
    Route("/api/me/signature", get_mine, methods=["GET"]),
    Route("/api/me/signature", set_mine, methods=["PUT"]),
    Route("/api/firm/signature", get_firm, methods=["GET"]),
    Route("/api/firm/signature", set_firm, methods=["PUT"]),
]
