"""uvicorn, configured for chatd, with a graceful drain before uvicorn's own shutdown.

uvicorn alone would cut every WebSocket with 1012 while requests are in flight; chatd first stops
accepting, lets each session answer what it is doing, and closes it with 1001 (go away, resume).
"""

from __future__ import annotations

import gc
import logging
import socket
from collections.abc import Awaitable

import uvicorn
from starlette.applications import Starlette
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket

from chatd import direct_write
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
            return websocket_endpoint(WebSocket(scope, receive, send), direct_write.writer_for(send))
        return self.app(scope, receive, send)


# Tracked allocations (net of deallocations) between two young collections; CPython's default is 700.
YOUNG_COLLECTION_THRESHOLD = 10_000


def settle_heap() -> None:
    """Once started: keep the garbage collector's passes rare and short.

    With CPython's defaults (a young pass per 700 net allocations), whatever in-flight sends held
    at each young pass was promoted, and the old generation filled up: with 2,000 connections at
    100 sends/s, 69 young passes in 10 s and a full pass every 10 to 30 s, each walking the 400,000
    objects of every connection for 150 to 500 ms (nothing sent meanwhile) to free almost nothing.
    At 10,000 the young generation fills from what stays alive, not from sends in flight: no pass
    at all in the same 10 s, and a young pass, when one comes, walks at most that many objects (a
    few ms). What start-up built (modules, the schema, compiled statements) lives as long as the
    process: frozen, no pass walks it again."""
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_COLLECTION_THRESHOLD, middle, old)


class Server(uvicorn.Server):
    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        settle_heap()

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
        ws="websockets-sansio",  # the protocol chatd.direct_write writes to
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
