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


async def login(request: Request) -> Response:
    svc = services(request)
    credentials = await body(request, Login)
    done = await svc.auth.login(credentials.email, credentials.password)
    if done is None:
        raise errors.Unauthorized("wrong email or password")
    caller, cookie = done
    response = json({"user": caller.user})
    response.set_cookie(
        SESSION_COOKIE,
        cookie,
        max_age=svc.settings.session_days * 86400,
        httponly=True,
        samesite="lax",
        secure=svc.settings.cookie_secure or request.url.scheme == "https",
        path="/",
    )
    return response


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
]
