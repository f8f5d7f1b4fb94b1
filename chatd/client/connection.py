"""The async client: one WebSocket at a time, reconnected and resumed for as long as it is open.

- Requests carry an id and are matched to their ``ok``/``error`` answer, each with a timeout.
- ``send`` and ``create_thread`` carry a ``client_msg_id`` (made here unless given), so they are
  re-sent after a reconnect until answered: the server stores each once and answers a retry with
  the same message. Other requests in flight when the socket drops fail with ConnectionLost.
- After a reconnect the client asks ``resume`` from the last event it queued: nothing is lost,
  and events at or below that id are dropped, so nothing comes twice.
- Events wait in a bounded queue. When the consumer falls that far behind, the client stops
  reading (closes the socket) and comes back with ``resume`` once half the queue is drained,
  instead of buffering without limit; answers keep flowing meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import random
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import msgspec
import websockets
from websockets.asyncio.client import ClientConnection

from chatd.client.errors import AuthError, ClientError, ConnectionLost, RequestError, RequestTimeout
from chatd.client.events import Event, parse_event
from protocol.codec import JSON_SUBPROTOCOL, MSGPACK_SUBPROTOCOL
from protocol.frames import Error, Hello, Ok, ServerFrame
from protocol.frames import Event as EventFrame
from protocol.values import Message, Thread, User

logger = logging.getLogger(__name__)

# Ops that carry a client_msg_id: safe to repeat after a reconnect.
RETRIED_OPS = frozenset({"send", "thread.create"})
RESYNC = "resync_required"
# The first reconnect comes within this, each failed one doubles it (docs/protocol.md, "Writing a
# client"; the web client does the same).
RECONNECT_BASE_S = 0.5


def reconnect_delay(attempt: int, cap: float) -> float:
    """How long to wait before reconnect attempt ``attempt`` (0 first): anywhere between 0 and the
    ceiling ("full jitter"). The clients of a process that went away all lose their socket in the
    same instant; spread over the whole window, they come back a few at a time instead of together,
    and a crowd whose handshakes time out does not come back in the same waves."""
    return random.uniform(0, min(cap, RECONNECT_BASE_S * 2**attempt))


@dataclass
class _Pending:
    frame: dict[str, Any]
    future: asyncio.Future[dict[str, Any]]
    retried: bool
    # The connection it was last written to; None while waiting for one.
    sent_on: ClientConnection | None = field(default=None)


class Client:
    """An async protocol v1 client; use ``async with Client(url, token) as client``."""

    def __init__(
        self,
        url: str,
        token: str,
        *,
        subprotocol: str = MSGPACK_SUBPROTOCOL,
        request_timeout: float = 10.0,
        max_queued_events: int = 1000,
        after_event_id: int | None = None,
        max_reconnect_delay: float = 5.0,
        open_timeout: float = 30.0,
    ) -> None:
        if subprotocol not in (JSON_SUBPROTOCOL, MSGPACK_SUBPROTOCOL):
            raise ValueError(f"unknown subprotocol {subprotocol!r}")
        self.url = url
        self.subprotocol = subprotocol
        self.request_timeout = request_timeout
        self.max_reconnect_delay = max_reconnect_delay
        # The handshake and the hello, together. Longer than websockets' 10 s: when a process
        # goes away its crowd reconnects to the others at once, and a handshake given up after
        # waiting in their queue is done again from the back of it (docs/reliability.md).
        self.open_timeout = open_timeout
        self._headers = {"Authorization": f"Bearer {token}"}
        self._binary = subprotocol == MSGPACK_SUBPROTOCOL
        self._decoder: Any = (msgspec.msgpack if self._binary else msgspec.json).Decoder(ServerFrame)
        self._ids = itertools.count(1)
        self._pending: dict[int, _Pending] = {}
        self._events: asyncio.Queue[Event | None] = asyncio.Queue(max_queued_events)
        self._room = asyncio.Event()
        self._room.set()
        self._ws: ClientConnection | None = None
        self._connected = asyncio.Event()
        self._runner: asyncio.Task[None] | None = None
        self._closing = False
        self._fatal: ClientError | None = None
        # The newest durable event queued for the consumer: where ``resume`` continues from.
        self.last_event_id: int | None = after_event_id
        self._hello_event_id = 0
        # Until the resume is answered, events newer than the hello are live ones that overtook
        # the replay (a resume that reached the server after its grace, docs/protocol.md §2):
        # queued, but the position stays below them until the replay is complete.
        self._replaying = False
        self._ahead: set[int] = set()
        self.user: User | None = None
        self.reconnects = 0

    # -- lifecycle --

    async def __aenter__(self) -> Client:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def start(self) -> None:
        """Connect (credentials and URL are checked here, once, with no retry), then keep connected."""
        conn = await self._open()
        self._runner = asyncio.create_task(self._run(conn))

    async def close(self) -> None:
        self._closing = True
        if self._runner is not None:
            self._runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._runner
        if self._ws is not None:
            await self._ws.close()
        self._fail_all(ConnectionLost("client closed"))
        self._end_events()

    @property
    def connected(self) -> bool:
        """Whether a connection is up and resumed (False while it reconnects)."""
        return self._connected.is_set()

    # -- requests --

    async def request(self, op: str, *, timeout_s: float | None = None, **fields: Any) -> dict[str, Any]:
        """Send a request and return its ``result``; RequestError when answered ``error``."""
        if self._fatal is not None:
            raise self._fatal
        if self._closing:
            raise ConnectionLost("client closed")
        request_id = next(self._ids)
        frame = {"op": op, "id": request_id, **fields}
        pending = _Pending(frame, asyncio.get_running_loop().create_future(), op in RETRIED_OPS)
        self._pending[request_id] = pending
        if self._connected.is_set():
            await self._write(pending)
        try:
            return await asyncio.wait_for(asyncio.shield(pending.future), timeout_s or self.request_timeout)
        except TimeoutError:
            raise RequestTimeout(f"{op} got no answer within {timeout_s or self.request_timeout}s") from None
        finally:
            self._pending.pop(request_id, None)

    async def send(
        self, thread_id: int, body: str, *, kind: str = "message", client_msg_id: str | None = None
    ) -> Message:
        """Post a message once, however often the connection drops meanwhile."""
        result = await self.request(
            "send", thread_id=thread_id, body=body, kind=kind, client_msg_id=client_msg_id or uuid.uuid4().hex
        )
        return msgspec.convert(result["message"], Message)

    async def create_thread(
        self,
        subject: str,
        body: str,
        *,
        client_account_id: int | None = None,
        participants: list[int] | None = None,
        client_msg_id: str | None = None,
    ) -> tuple[Thread, Message]:
        result = await self.request(
            "thread.create",
            subject=subject,
            body=body,
            client_msg_id=client_msg_id or uuid.uuid4().hex,
            client_account_id=client_account_id,
            participants=participants or [],
        )
        return msgspec.convert(result["thread"], Thread), msgspec.convert(result["message"], Message)

    async def history(
        self, thread_id: int, *, before: int | None = None, after: int | None = None, limit: int = 50
    ) -> tuple[list[Message], bool]:
        result = await self.request("history", thread_id=thread_id, before=before, after=after, limit=limit)
        return msgspec.convert(result["messages"], list[Message]), bool(result["has_more"])

    async def threads(self, *, cursor: str | None = None, limit: int = 50) -> tuple[list[Thread], str | None]:
        result = await self.request("threads", cursor=cursor, limit=limit)
        return msgspec.convert(result["threads"], list[Thread]), result["cursor"]

    async def read(self, thread_id: int, message_id: int) -> None:
        await self.request("read", thread_id=thread_id, message_id=message_id)

    async def typing(self, thread_id: int) -> None:
        await self.request("typing", thread_id=thread_id)

    async def ping(self) -> str:
        result = await self.request("ping")
        return str(result["ts"])

    # -- events --

    async def next_event(self, timeout_s: float | None = None) -> Event:
        """The next event; ConnectionLost once the client is closed, AuthError if it was refused."""
        item = await asyncio.wait_for(self._events.get(), timeout_s)
        if self._events.qsize() <= self._events.maxsize // 2:
            self._room.set()
        if item is None:
            self._events.put_nowait(None)  # every later call ends too
            raise self._fatal or ConnectionLost("client closed")
        return item

    async def events(self) -> AsyncIterator[Event]:
        """Every event, in order, until the client is closed."""
        while True:
            try:
                yield await self.next_event()
            except ConnectionLost:
                if self._closing:
                    return
                raise

    # -- the connection --

    async def _open(self) -> ClientConnection:
        async with asyncio.timeout(self.open_timeout):
            conn = await self._handshake()
            try:
                hello = self._decode(await conn.recv())
            except BaseException:
                conn.transport.abort()  # no hello in time (or none at all): drop the socket
                raise
        if not isinstance(hello, Hello):
            await conn.close()
            raise ClientError(f"expected hello, got {hello!r}")
        self.user = hello.user
        self._hello_event_id = hello.event_id
        if self.last_event_id is None:
            self.last_event_id = hello.event_id
        # Resume first, before any other frame: it replays what was missed, then opens the flow
        # of live events, so they arrive in order.
        self._replaying = True
        await self._write_internal(conn, "resume", after_event_id=self.last_event_id)
        self._ws = conn
        self._connected.set()
        for pending in list(self._pending.values()):
            if pending.sent_on is None or pending.retried:
                await self._write(pending)
        return conn

    async def _handshake(self) -> ClientConnection:
        try:
            return await websockets.connect(
                self.url,
                subprotocols=[self.subprotocol],  # type: ignore[list-item]
                additional_headers=self._headers,
                max_size=None,
                open_timeout=None,  # bounded with the hello, by ``open_timeout``
            )
        except websockets.InvalidStatus as exc:
            status = exc.response.status_code
            if status in (401, 403):
                raise AuthError(f"the server refused the credentials (HTTP {status})") from None
            raise

    async def _run(self, conn: ClientConnection) -> None:
        attempt = 0
        while True:
            await self._serve(conn)
            self._connected.clear()
            self._ws = None
            self._fail_sent_on(conn)
            await self._room.wait()
            while True:
                await asyncio.sleep(reconnect_delay(attempt, self.max_reconnect_delay))
                attempt += 1
                try:
                    conn = await self._open()
                except AuthError as exc:
                    self._fatal = exc
                    self._fail_all(exc)
                    self._end_events()
                    return
                except (OSError, TimeoutError, websockets.WebSocketException, ClientError) as exc:
                    logger.info("reconnect to %s failed (%s); retrying", self.url, exc)
                    continue
                self.reconnects += 1
                attempt = 0
                break

    async def _serve(self, conn: ClientConnection) -> None:
        """Read frames until the socket closes, or until the event queue is full."""
        try:
            async for raw in conn:
                frame = self._decode(raw)
                if isinstance(frame, EventFrame):
                    if not self._queue_event(frame):
                        logger.info("event queue full: pausing and resuming from event %s", self.last_event_id)
                        self._room.clear()
                        await conn.close(1000, "client catching up")
                        return
                elif isinstance(frame, Ok | Error):
                    self._answer(frame)
        except websockets.ConnectionClosed:
            pass
        except msgspec.DecodeError:
            logger.exception("undecodable frame from the server; reconnecting")
            await conn.close(1002, "undecodable frame")

    def _queue_event(self, frame: EventFrame) -> bool:
        event_id = frame.event_id
        last = self.last_event_id
        if event_id is not None and last is not None and (event_id <= last or event_id in self._ahead):
            self._advance(event_id)
            return True  # already queued before a reconnect
        if self._events.full():
            return event_id is None  # an ephemeral event is dropped; a durable one waits for resume
        self._events.put_nowait(parse_event(frame.type, event_id, frame.data))
        if event_id is not None:
            self._advance(event_id)
        return True

    def _advance(self, event_id: int) -> None:
        """Move the resume position to ``event_id`` once every older event is queued: replayed
        events come in order up to the hello's id, live ones in order after it."""
        if self._replaying and event_id > self._hello_event_id:
            # Queued before the replay is complete: resuming from it would skip the rest.
            self._ahead.add(event_id)
            return
        if self.last_event_id is None or event_id > self.last_event_id:
            self.last_event_id = event_id
        if self._ahead:
            self._ahead = {i for i in self._ahead if i > self.last_event_id}

    def _answer(self, frame: Ok | Error) -> None:
        if not isinstance(frame.id, int):
            return
        pending = self._pending.get(frame.id)
        if pending is None or pending.future.done():
            return
        if isinstance(frame, Ok):
            pending.future.set_result(frame.result)
        else:
            pending.future.set_exception(RequestError(frame.code, frame.message, frame.retry_after))

    async def _write(self, pending: _Pending) -> None:
        conn = self._ws
        if conn is None:
            return
        pending.sent_on = conn
        with contextlib.suppress(websockets.ConnectionClosed):
            await conn.send(self._encode(pending.frame))

    async def _write_internal(self, conn: ClientConnection, op: str, **fields: Any) -> None:
        """A request whose answer the client handles itself (resume)."""
        request_id = next(self._ids)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        frame = {"op": op, "id": request_id, **fields}
        self._pending[request_id] = _Pending(frame, future, False, conn)
        future.add_done_callback(lambda done: self._resumed(request_id, conn, done))
        await conn.send(self._encode(frame))

    def _resumed(self, request_id: int, conn: ClientConnection, future: asyncio.Future[dict[str, Any]]) -> None:
        self._pending.pop(request_id, None)
        if future.cancelled() or isinstance(future.exception(), ConnectionLost):
            return  # that connection is gone: the next one resumes again
        error = future.exception()
        if error is None or (isinstance(error, RequestError) and error.code == RESYNC):
            self._replaying = False
            self._advance(self._hello_event_id)  # every event up to the hello's is queued now
        if isinstance(error, RequestError) and error.code == RESYNC:
            # The gap is older than the server keeps: tell the consumer to refetch threads and history.
            with contextlib.suppress(asyncio.QueueFull):
                self._events.put_nowait(Event(RESYNC, None, {"message": error.message}))
        elif isinstance(error, RequestError):
            # Not replayed (the database was unavailable…): live events alone would hide the gap.
            logger.info("resume failed (%s); reconnecting to resume again", error)
            conn.transport.abort()

    def _fail_sent_on(self, conn: ClientConnection) -> None:
        for request_id, pending in list(self._pending.items()):
            if pending.sent_on is conn and not pending.retried and not pending.future.done():
                pending.future.set_exception(
                    ConnectionLost(f"connection lost before {pending.frame['op']} was answered")
                )
                self._pending.pop(request_id, None)

    def _fail_all(self, error: ClientError) -> None:
        for pending in self._pending.values():
            if not pending.future.done():
                pending.future.set_exception(error)
        self._pending.clear()

    def _end_events(self) -> None:
        with contextlib.suppress(asyncio.QueueFull):
            self._events.put_nowait(None)

    def _encode(self, frame: dict[str, Any]) -> str | bytes:
        return msgspec.msgpack.encode(frame) if self._binary else msgspec.json.encode(frame).decode()

    def _decode(self, raw: str | bytes) -> ServerFrame:
        frame: ServerFrame = self._decoder.decode(raw)
        return frame
