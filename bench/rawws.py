"""A minimal WebSocket client on a bare asyncio protocol, cheap enough that one generator process can
take tens of thousands of frames a second without being the bottleneck.

It does only what the benchmarks need: the HTTP upgrade with a bearer token and a subprotocol,
unfragmented text frames in both directions, pong for ping, and close. Outgoing frames are masked
with a zero key (valid per RFC 6455, and free: XOR with zero leaves the payload as is).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import cast

# Called with the arrival time (perf_counter) and the payload of each text frame.
OnFrame = Callable[[float, bytes], None]

_KEY = b"dGhlIHNhbXBsZSBub25jZQ=="
_ZERO_MASK = b"\x00\x00\x00\x00"


class RawWs(asyncio.Protocol):
    def __init__(self, on_frame: OnFrame | None = None) -> None:
        self.on_frame = on_frame
        self.frames = 0
        self.transport: asyncio.Transport | None = None
        self.upgraded: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._buffer = bytearray()
        self._open = False

    @classmethod
    async def connect(
        cls, host: str, port: int, path: str, *, token: str | None, subprotocol: str | None, on_frame: OnFrame | None
    ) -> RawWs:
        loop = asyncio.get_running_loop()
        _, protocol = await loop.create_connection(lambda: cls(on_frame), host, port)
        headers = [
            f"GET {path} HTTP/1.1",
            f"Host: {host}:{port}",
            "Upgrade: websocket",
            "Connection: Upgrade",
            f"Sec-WebSocket-Key: {_KEY.decode()}",
            "Sec-WebSocket-Version: 13",
        ]
        if subprotocol:
            headers.append(f"Sec-WebSocket-Protocol: {subprotocol}")
        if token:
            headers.append(f"Authorization: Bearer {token}")
        assert protocol.transport is not None
        protocol.transport.write(("\r\n".join(headers) + "\r\n\r\n").encode())
        await protocol.upgraded
        return protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's are not asyncio.Transport subclasses

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.upgraded.done():
            self.upgraded.set_exception(ConnectionError("closed during the handshake"))
        if not self.closed.done():
            self.closed.set_result(None)

    def data_received(self, data: bytes) -> None:
        buffer = self._buffer
        buffer += data
        if not self._open:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            status = bytes(buffer[: buffer.find(b"\r\n")])
            del buffer[: end + 4]
            if b" 101 " not in status:
                self.upgraded.set_exception(ConnectionError(status.decode(errors="replace")))
                assert self.transport is not None
                self.transport.close()
                return
            self._open = True
            self.upgraded.set_result(None)
        now = time.perf_counter()
        while len(buffer) >= 2:
            opcode = buffer[0] & 0x0F
            length = buffer[1] & 0x7F
            offset = 2
            if length == 126:
                if len(buffer) < 4:
                    return
                length = int.from_bytes(buffer[2:4], "big")
                offset = 4
            elif length == 127:
                if len(buffer) < 10:
                    return
                length = int.from_bytes(buffer[2:10], "big")
                offset = 10
            end = offset + length
            if len(buffer) < end:
                return
            payload = bytes(buffer[offset:end])
            del buffer[:end]
            if opcode in (0x1, 0x2):
                self.frames += 1
                if self.on_frame is not None:
                    self.on_frame(now, payload)
            elif opcode == 0x9:
                self._write(0xA, payload)
            elif opcode == 0x8:
                self._write(0x8, payload[:2])
                assert self.transport is not None
                self.transport.close()
                return

    def send_text(self, payload: bytes) -> None:
        self._write(0x1, payload)

    def _write(self, opcode: int, payload: bytes) -> None:
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        length = len(payload)
        if length < 126:
            header = bytes((0x80 | opcode, 0x80 | length))
        elif length < 65536:
            header = bytes((0x80 | opcode, 0x80 | 126)) + length.to_bytes(2, "big")
        else:
            header = bytes((0x80 | opcode, 0x80 | 127)) + length.to_bytes(8, "big")
        transport.write(header + _ZERO_MASK + payload)

    def abort(self) -> None:
        """Drop the connection without a closing handshake (the server sees a lost client)."""
        if self.transport is not None:
            self.transport.abort()

    async def close(self) -> None:
        self._write(0x8, (1000).to_bytes(2, "big"))
        try:
            await asyncio.wait_for(asyncio.shield(self.closed), 5)
        except TimeoutError:
            self.abort()
