"""uvicorn, configured for chatd, with a graceful drain before uvicorn's own shutdown.

uvicorn alone would cut every WebSocket with 1012 while requests are in flight; chatd first stops
accepting, lets each session answer what it is doing, and closes it with 1001 (go away, resume).
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Awaitable

import uvicorn
from starlette.applications import Starlette
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket

from chatd.config import Settings
from chatd.services.context import Services
from chatd.ws import WS_PATH, websocket_endpoint


class _DenialNoise(logging.Filter):
    """uvicorn's websockets-sansio protocol logs "ASGI callable returned without completing
    handshake" at ERROR after every denial response (HTTP 403 with a JSON body), though the
    response was sent: Kludex/uvicorn PR #3138. chatd's endpoint always accepts or denies, so the
    line is noise that would page operators on every bad token. Drop it; remove once fixed."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() != "ASGI callable returned without completing handshake."


class _SocketsFirst:
    """``/ws`` straight to its endpoint, everything else (lifespan included) through the app.
    The app's middleware and router only pass a WebSocket through, but each layer is a coroutine
    frame held for the connection's whole life: about 6 KiB of an idle connection's memory
    (docs/performance.md, workload C)."""

    def __init__(self, app: Starlette) -> None:
        self.app = app
        self.state = app.state  # where Server.shutdown finds the services

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        if scope["type"] == "websocket" and scope["path"] == WS_PATH:
            scope["app"] = self.app  # what the endpoint reads its services from
            return websocket_endpoint(WebSocket(scope, receive, send))
        return self.app(scope, receive, send)


class Server(uvicorn.Server):
    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        for server in self.servers:
            server.close()
        app = self.config.app
        services: Services | None = getattr(getattr(app, "state", None), "services", None)
        if services is not None:
            await services.close_sessions()
        await super().shutdown(sockets)


def serve(app: Starlette, settings: Settings, host: str, port: int) -> None:
    config = uvicorn.Config(
        _SocketsFirst(app),
        interface="asgi3",  # told: uvicorn only recognizes ASGI 3 by an ``async def __call__``
        host=host,
        port=port,
        ws_max_size=settings.max_frame_bytes,
        ws_ping_interval=settings.heartbeat_s,
        ws_ping_timeout=settings.heartbeat_s,
        ws_per_message_deflate=settings.ws_compression,
        timeout_graceful_shutdown=15,
        log_level="info",
        access_log=False,  # chatd.logcontext logs each request, with its request id
    )
    logging.getLogger("uvicorn.error").addFilter(_DenialNoise())
    Server(config).run()
