"""chatd's Python SDK: an async client of protocol v1, and a small decorator API for bots.

Importing it loads only ``protocol`` (the wire schemas), msgspec and websockets, never the
server's dependencies, so a bot installs and starts light::

    from chatd.client import Bot

    bot = Bot("ws://localhost:8000/ws", token="chatd_...")

    @bot.on_message
    async def echo(event):
        return f"You said: {event.message.body}"

    bot.run()

Exception tree::

    ClientError
    ├── RequestError       the server answered ``error`` (``.code``, ``.message``)
    ├── RequestTimeout     no answer within the request's timeout
    ├── ConnectionLost     the socket dropped before a request that is unsafe to repeat was answered
    └── AuthError          the server refused the credentials (revoked, expired): never retried
"""

from chatd.client.bot import Bot
from chatd.client.connection import Client
from chatd.client.errors import AuthError, ClientError, ConnectionLost, RequestError, RequestTimeout
from chatd.client.events import (
    Event,
    MentionEvent,
    MessageEvent,
    ReadEvent,
    ThreadEvent,
    TypingEvent,
    parse_event,
)
from protocol.values import Message, Thread, User

__all__ = [
    "AuthError",
    "Bot",
    "Client",
    "ClientError",
    "ConnectionLost",
    "Event",
    "MentionEvent",
    "Message",
    "MessageEvent",
    "ReadEvent",
    "RequestError",
    "RequestTimeout",
    "Thread",
    "ThreadEvent",
    "TypingEvent",
    "User",
    "parse_event",
]
