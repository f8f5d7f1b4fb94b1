"""Attachments over HTTP: multipart upload, and download by those who may see the message."""

from __future__ import annotations

from urllib.parse import quote

import msgspec
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Route

from chatd import errors
from chatd.api.common import account, json, path_id, query, services


class UploadOptions(msgspec.Struct, forbid_unknown_fields=True):
    # Store a zip's files instead of the zip itself.
    unzip: bool = False


async def upload(request: Request) -> Response:
    caller, options = await account(request), query(request, UploadOptions)
    length = request.headers.get("content-length")
    stored = await services(request).attachments.upload(
        caller,
        content_type=request.headers.get("content-type", ""),
        content_length=int(length) if length and length.isdigit() else None,
        chunks=request.stream(),
        expand_zip=options.unzip,
    )
    return json({"attachments": stored}, 201)


async def download(request: Request) -> Response:
    return await _file(request, thumbnail=False)


async def thumbnail(request: Request) -> Response:
    return await _file(request, thumbnail=True)


async def _file(request: Request, *, thumbnail: bool) -> Response:
    caller = await account(request)
    found = await services(request).attachments.download(caller, path_id(request, "attachment_id"), thumbnail=thumbnail)
    if not found.path.is_file():
        raise errors.NotFound("the file is no longer stored")
    disposition = "inline" if found.inline else "attachment"
    fallback = found.name.encode("ascii", "replace").decode().replace('"', "'").replace("?", "_")
    headers = {
        "Content-Disposition": f"{disposition}; filename=\"{fallback}\"; filename*=UTF-8''{quote(found.name)}",
        "X-Content-Type-Options": "nosniff",
        "Cache-Control": "private, max-age=3600",
    }
    if found.content_type != "application/pdf":  # browsers' PDF viewers refuse to run sandboxed
        # Whatever the file holds, it runs nothing in chatd's origin.
        headers["Content-Security-Policy"] = "default-src 'none'; img-src 'self'; sandbox"
    return FileResponse(found.path, media_type=found.content_type, headers=headers)


routes = [
    Route("/api/attachments", upload, methods=["POST"]),
    Route("/api/attachments/{attachment_id:int}", download, methods=["GET"]),
    Route("/api/attachments/{attachment_id:int}/thumbnail", thumbnail, methods=["GET"]),
]
