"""Which session and which request a log line is about, carried in context variables.

A WebSocket connection sets its session id once (the tasks it starts inherit it) and the id of
each request frame while handling it; HTTP requests get an ``X-Request-ID`` (the caller's, when
it sends a usable one) that is echoed in the response.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from contextvars import ContextVar

from starlette.types import ASGIApp, Message, Receive, Scope, Send

SESSION_ID: ContextVar[str | None] = ContextVar("session_id", default=None)
REQUEST_ID: ContextVar[str | None] = ContextVar("request_id", default=None)

FORMAT = "%(asctime)s %(levelname)s %(name)s%(context)s: %(message)s"
_USABLE_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")

access_logger = logging.getLogger("chatd.access")


class ContextFilter(logging.Filter):
    """Adds ``context``: `` session=… request=…`` for the ids set, or nothing."""

    def filter(self, record: logging.LogRecord) -> bool:
        parts = []
        if (session_id := SESSION_ID.get()) is not None:
            parts.append(f" session={session_id}")
        if (request_id := REQUEST_ID.get()) is not None:
            parts.append(f" request={request_id}")
        record.context = "".join(parts)
        return True


def configure_logging() -> None:
    logging.basicConfig(level=logging.INFO, format=FORMAT)
    for handler in logging.getLogger().handlers:
        handler.addFilter(ContextFilter())


class RequestIdMiddleware:
    """Gives each HTTP request an id, echoes it as ``X-Request-ID`` and logs one line per request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        request_id = given if _USABLE_ID.fullmatch(given) else uuid.uuid4().hex[:16]
        token = REQUEST_ID.set(request_id)
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            elapsed_ms = (time.perf_counter() - started) * 1000
            access_logger.info("%s %s %s (%.1f ms)", scope["method"], scope["path"], status, elapsed_ms)
            REQUEST_ID.reset(token)
