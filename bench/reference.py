"""The reference: a bare ``websockets`` server that does the least a chat room can do. It greets
each connection, and for each ``send`` answers ``ok`` and hands one encoded event to
``websockets.broadcast`` for every connection: no authentication, validation or storage.

    .venv/bin/python -m bench.reference --port 9000
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from typing import Any

import msgspec
import websockets
from websockets.asyncio.server import ServerConnection, serve

from bench.workload import HEARTBEAT_S

_decode = msgspec.json.Decoder(dict[str, Any]).decode
_encode = msgspec.json.Encoder().encode


class Room:
    def __init__(self) -> None:
        self.members: set[ServerConnection] = set()
        self.event_id = 0

    async def handler(self, conn: ServerConnection) -> None:
        await conn.send(_encode({"op": "hello", "event_id": self.event_id}).decode())
        self.members.add(conn)
        try:
            async for raw in conn:
                frame = _decode(raw)
                if frame.get("op") != "send":
                    continue
                self.event_id += 1
                message = {"id": self.event_id, "thread_id": frame["thread_id"], "body": frame["body"]}
                event = {"op": "event", "type": "message.created", "event_id": self.event_id, "data": message}
                websockets.broadcast(self.members, _encode(event).decode())
                await conn.send(_encode({"op": "ok", "id": frame["id"], "result": {"message": message}}).decode())
        finally:
            self.members.discard(conn)


async def main(port: int) -> None:
    room = Room()
    async with serve(
        room.handler,
        "127.0.0.1",
        port,
        compression=None,
        ping_interval=HEARTBEAT_S,
        ping_timeout=HEARTBEAT_S,
        backlog=4096,
    ) as server:
        await server.serve_forever()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    with contextlib.suppress(ImportError):
        import uvloop

        uvloop.install()
    asyncio.run(main(parser.parse_args().port))
