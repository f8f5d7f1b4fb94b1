"""Logging in and out, and who am I."""

from __future__ import annotations

from typing import Annotated

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from chatd import errors
from chatd.api.common import account, body, json, services
from chatd.auth import SESSION_COOKIE


class Login(msgspec.Struct, forbid_unknown_fields=True):
    email: Annotated[str, msgspec.Meta(max_length=320)]
    password: Annotated[str, msgspec.Meta(max_length=1024)]


class PasswordChange(msgspec.Struct, forbid_unknown_fields=True):
    current_password: Annotated[str, msgspec.Meta(max_length=1024)]
    new_password: Annotated[str, msgspec.Meta(max_length=1024)]


async def login(request: Request) -> Response:
    svc = services(request)
    credentials = await body(request, Login)
    await _take_attempt(request)
    done = await svc.auth.login(credentials.email, credentials.password)
    if done is None:
        raise errors.Unauthorized("wrong email or password")
    caller, cookie = done
    response = json({"user": caller.user})
    _set_cookie(request, response, cookie)
    return response


async def change_password(request: Request) -> Response:
    """Every login session of the caller ends; the caller gets a new one (a fresh cookie)."""
    caller, change = await account(request), await body(request, PasswordChange)
    await _take_attempt(request)
    cookie = await services(request).auth.change_password(caller, change.current_password, change.new_password)
    if cookie is None:
        raise errors.Forbidden("the current password is wrong")
    response = Response(status_code=204)
    _set_cookie(request, response, cookie)
    return response


async def _take_attempt(request: Request) -> None:
    """Slow password guessing: each address gets a budget of attempts, shared by every process."""
    address = request.client.host if request.client else "unknown"
    wait = await services(request).throttles.take_login(address)
    if wait:
        raise errors.RateLimited("too many password attempts from this address", round(wait, 3))


def _set_cookie(request: Request, response: Response, cookie: str) -> None:
    settings = services(request).settings
    response.set_cookie(
        SESSION_COOKIE,
        cookie,
        max_age=settings.session_days * 86400,
        httponly=True,
        samesite="lax",
        secure=settings.cookie_secure or request.url.scheme == "https",
        path="/",
    )


async def logout(request: Request) -> Response:
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        await account(request)  # the Origin check: no cross-site logouts
        await services(request).auth.logout(cookie)
    response = Response(status_code=204)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


async def me(request: Request) -> Response:
    return json({"user": (await account(request)).user})


routes = [
    Route("/api/login", login, methods=["POST"]),
    Route("/api/logout", logout, methods=["POST"]),
    Route("/api/me", me, methods=["GET"]),
    Route("/api/me/password", change_password, methods=["POST"]),
]
