"""The protocol as machine-readable documents: AsyncAPI 3, JSON Schemas and test vectors."""

from __future__ import annotations

from functools import cache

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from protocol import spec


@cache
def _document(name: str) -> bytes:
    builders = {"asyncapi": spec.asyncapi, "schema": spec.json_schemas, "vectors": spec.vectors}
    return spec.render(builders[name]()).encode()


async def asyncapi(request: Request) -> Response:
    return Response(_document("asyncapi"), media_type="application/json")


async def schema(request: Request) -> Response:
    return Response(_document("schema"), media_type="application/schema+json")


async def vectors(request: Request) -> Response:
    return Response(_document("vectors"), media_type="application/json")


routes = [
    Route("/api/protocol", asyncapi, methods=["GET"]),
    Route("/api/protocol/schema", schema, methods=["GET"]),
    Route("/api/protocol/vectors", vectors, methods=["GET"]),
]
