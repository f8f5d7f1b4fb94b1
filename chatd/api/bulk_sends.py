"""Bulk sends over HTTP (the ``bulk.send`` and ``bulk.get`` ops on the socket)."""

from __future__ import annotations

from typing import Annotated

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from chatd.api.common import account, body, json, path_id, services
from protocol.frames import FillIns, PositiveId


class BulkIn(msgspec.Struct, forbid_unknown_fields=True):
    key: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    client_account_ids: Annotated[list[PositiveId], msgspec.Meta(min_length=1, max_length=5000)]
    subject: Annotated[str, msgspec.Meta(max_length=200)] = ""
    body: str = ""
    template_id: PositiveId | None = None
    fields: FillIns = {}
    signature: bool = True


async def start(request: Request) -> Response:
    caller, wanted = await account(request), await body(request, BulkIn)
    bulk = await services(request).bulk_sends.start(
        caller,
        key=wanted.key,
        client_account_ids=wanted.client_account_ids,
        subject=wanted.subject,
        body=wanted.body,
        template_id=wanted.template_id,
        fields=wanted.fields,
        signature=wanted.signature,
    )
    return json({"bulk": bulk}, 202)


async def get(request: Request) -> Response:
    bulk, results = await services(request).bulk_sends.get(await account(request), path_id(request, "bulk_id"))
    return json({"bulk": bulk, "results": results})


routes = [
    Route("/api/bulk-sends", start, methods=["POST"]),
    Route("/api/bulk-sends/{bulk_id:int}", get, methods=["GET"]),
]
