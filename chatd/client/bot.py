"""A small decorator API over Client for bots: register handlers, then ``bot.run()``.

A handler gets the typed event; if it returns a string, the bot posts it as a reply in the same
thread (idempotently: a reply's client_msg_id derives from the event, so a handler run again after
a crash answers once). Handlers run one at a time, in event order.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from chatd.client.connection import Client
from chatd.client.events import Event, MentionEvent, MessageEvent
from protocol.values import Message, User

logger = logging.getLogger(__name__)

Handler = Callable[[Any], Awaitable[str | None]]
H = TypeVar("H", bound=Handler)


class Bot:
    def __init__(self, url: str, token: str, **client_options: Any) -> None:
        self.client = Client(url, token, **client_options)
        self._handlers: defaultdict[str, list[Handler]] = defaultdict(list)
        self._ready: list[Callable[[User], Awaitable[None]]] = []
        self._stopped = asyncio.Event()

    # -- registering handlers --

    def on(self, event_type: str) -> Callable[[H], H]:
        """Handle every event of a type (``message.updated``, ``read``, ``thread.created``...)."""

        def register(handler: H) -> H:
            self._handlers[event_type].append(handler)
            return handler

        return register

    def on_message(self, handler: H) -> H:
        """Handle new messages written by others (a MessageEvent)."""
        return self.on("message.created")(handler)

    def on_mention(self, handler: H) -> H:
        """Handle @mentions of this bot (a MentionEvent)."""
        return self.on("mention")(handler)

    def on_ready(self, handler: Callable[[User], Awaitable[None]]) -> Callable[[User], Awaitable[None]]:
        """Run once connected, with the bot's own user (from the hello frame)."""
        self._ready.append(handler)
        return handler

    # -- acting --

    async def reply(self, to: Message, body: str, *, client_msg_id: str | None = None) -> Message:
        """Post ``body`` in the thread of ``to``."""
        return await self.client.send(to.thread_id, body, client_msg_id=client_msg_id or f"reply-{to.id}")

    # -- running --

    async def serve(self) -> None:
        """Connect, then handle events until ``stop()`` (or the credentials are refused)."""
        async with self.client:
            assert self.client.user is not None
            for ready in self._ready:
                await ready(self.client.user)
            events = asyncio.create_task(self._handle_events())
            stopped = asyncio.create_task(self._stopped.wait())
            done, _ = await asyncio.wait({events, stopped}, return_when=asyncio.FIRST_COMPLETED)
            for task in (events, stopped):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            if events in done and events.exception() is not None:
                raise events.exception()  # type: ignore[misc]

    def run(self) -> None:
        """Serve until interrupted (Ctrl+C)."""
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(self.serve())

    def stop(self) -> None:
        self._stopped.set()

    async def _handle_events(self) -> None:
        async for event in self.client.events():
            await self._dispatch(event)

    async def _dispatch(self, event: Event) -> None:
        me = self.client.user.id if self.client.user is not None else None
        message = event.message if isinstance(event, MessageEvent | MentionEvent) else None
        if isinstance(event, MessageEvent) and event.message.author_id == me:
            return  # never answer ourselves
        for handler in self._handlers.get(event.type, ()):
            try:
                answer = await handler(event)
            except Exception:
                logger.exception("handler %s failed on %s event %s", handler.__name__, event.type, event.event_id)
                continue
            if answer is not None and message is not None:
                await self.reply(message, answer, client_msg_id=f"reply-{event.type}-{message.id}-{handler.__name__}")
