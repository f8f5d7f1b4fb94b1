"""What every HTTP handler shares: JSON in and out, the caller's account, errors as JSON."""

from __future__ import annotations

from typing import Any, TypeVar

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from chatd import errors
from chatd.services.context import Services
from storage.directory import Account

T = TypeVar("T")

UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
MAX_JSON_BYTES = 256 * 1024


def services(request: Request) -> Services:
    found: Services = request.app.state.services
    return found


def json(data: Any, status: int = 200) -> Response:
    return Response(msgspec.json.encode(data), status_code=status, media_type="application/json")


def error_response(code: str, message: str, status: int, **extra: Any) -> Response:
    return json({"error": {"code": code, "message": message, **extra}}, status)


async def body(request: Request, schema: type[T]) -> T:
    """The request's JSON body checked against ``schema``; BadRequest naming what is wrong."""
    raw = await request.body()
    if len(raw) > MAX_JSON_BYTES:
        raise errors.TooLarge(f"request body over {MAX_JSON_BYTES} bytes")
    try:
        return msgspec.json.decode(raw or b"{}", type=schema)
    except msgspec.ValidationError as exc:
        raise errors.BadRequest(str(exc)) from None
    except msgspec.DecodeError:
        raise errors.BadRequest("request body is not JSON") from None


def query(request: Request, schema: type[T]) -> T:
    try:
        return msgspec.convert(dict(request.query_params), schema, strict=False)
    except msgspec.ValidationError as exc:
        raise errors.BadRequest(str(exc)) from None


async def account(request: Request) -> Account:
    """The authenticated caller; cookie-authenticated writes must come from an allowed Origin."""
    svc = services(request)
    caller = await svc.auth.authenticate(request.headers, request.cookies)
    if caller is None:
        raise errors.Unauthorized("log in or send a bearer token")
    if caller.via_cookie and request.method in UNSAFE_METHODS:
        secure = request.url.scheme == "https"
        if not svc.auth.origin_allowed(request.headers.get("origin"), request.headers.get("host"), secure):
            raise errors.Unauthorized("origin not allowed")
    return caller.account


def path_id(request: Request, name: str) -> int:
    value: int = request.path_params[name]
    return value


async def handle_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, errors.ChatdError)
    extra = {"retry_after": exc.retry_after} if isinstance(exc, errors.RateLimited | errors.Unavailable) else {}
    return error_response(exc.code.value, exc.message, exc.status, **extra)
