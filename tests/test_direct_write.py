"""Frames written straight to uvicorn's socket (chatd.direct_write), against a real uvicorn server
and a real WebSocket client: they arrive whole and in order with those ASGI's ``send`` writes, and
a socket that cannot take a frame at once is left to ``send``."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
import uvicorn
from websockets.asyncio.client import connect

from chatd import direct_write
from tests.support import free_port

Handler = Callable[[Any, Any], Awaitable[None]]


@contextlib.asynccontextmanager
async def _server(handler: Handler, *, ws: str = "websockets-sansio", deflate: bool = False) -> AsyncIterator[str]:
    """A uvicorn server, configured as chatd's (no compression unless asked), whose one WebSocket
    route accepts, then hands ``send`` to ``handler``."""

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "websocket":
            return
        await receive()  # websocket.connect
        await send({"type": "websocket.accept"})
        await handler(send, receive)

    port = free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, ws=ws, ws_per_message_deflate=deflate, lifespan="off", log_level="warning"
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    async with asyncio.timeout(10):
        while not server.started:
            assert not task.done(), "uvicorn did not start"
            await asyncio.sleep(0.01)
    try:
        yield f"ws://127.0.0.1:{port}/"
    finally:
        server.should_exit = True
        await task


async def test_frames_written_directly_arrive_whole_and_in_order_with_asgi_sends() -> None:
    done = asyncio.Event()

    async def handler(send: Any, receive: Any) -> None:
        write = direct_write.writer_for(send)
        assert write is not None
        assert write("one")
        await send({"type": "websocket.send", "text": "two"})
        assert write(b"\x00three")
        assert write("é" * 70_000)  # a 16-bit length, then text past 64 KiB: a 64-bit one
        assert write("one")  # the same object again: framed once, written twice
        await done.wait()

    async with _server(handler) as url, connect(url, max_size=None) as client:
        received = [await client.recv() for _ in range(5)]
        done.set()
    assert received == ["one", "two", b"\x00three", "é" * 70_000, "one"]


async def test_a_socket_that_stops_taking_frames_is_left_to_asgi_send() -> None:
    """A client that does not read fills the server's buffer: the direct writer then refuses, and
    every frame it took, and those ``send`` waits to write, arrive in order once the client reads."""
    refused = asyncio.Event()
    reading = asyncio.Event()
    chunk = "x" * 60_000

    async def handler(send: Any, receive: Any) -> None:
        write = direct_write.writer_for(send)
        assert write is not None
        taken = 0
        while write(f"{taken:06d}{chunk}"):
            taken += 1
            assert taken < 10_000, "the socket never filled"
        refused.set()
        await send({"type": "websocket.send", "text": f"{taken:06d}{chunk}"})  # waits for room
        await send({"type": "websocket.send", "text": "end"})
        await reading.wait()

    async with _server(handler) as url, connect(url, max_size=None, max_queue=1) as client:
        await asyncio.wait_for(refused.wait(), 20)
        reading.set()
        numbers = []
        while (frame := await asyncio.wait_for(client.recv(), 20)) != "end":
            assert isinstance(frame, str)
            assert frame[6:] == chunk
            numbers.append(int(frame[:6]))
    assert len(numbers) > 1
    assert numbers == list(range(len(numbers)))


async def test_a_compressed_connection_is_left_to_asgi_send() -> None:
    async def handler(send: Any, receive: Any) -> None:
        write = direct_write.writer_for(send)
        assert write is not None
        assert not write("plain")  # its frames are compressed, with the connection's own context
        await send({"type": "websocket.send", "text": "compressed"})

    async with _server(handler, deflate=True) as url, connect(url) as client:
        assert await client.recv() == "compressed"


# uvicorn's legacy protocol, on purpose: another class than the one chatd writes to.
@pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore:The `websockets` implementation is deprecated")
async def test_no_direct_writer_for_another_protocol_or_a_wrapped_send() -> None:
    found: list[object] = []

    async def handler(send: Any, receive: Any) -> None:
        found.append(direct_write.writer_for(send))
        found.append(direct_write.writer_for(lambda message: send(message)))
        await send({"type": "websocket.close", "code": 1000})

    async with _server(handler, ws="websockets") as url, connect(url) as client:
        await client.wait_closed()
    assert found == [None, None]
