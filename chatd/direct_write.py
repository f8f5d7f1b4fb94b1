"""Writing a frame straight to uvicorn's socket, as ``websockets.broadcast`` writes, when the
socket takes it without waiting.

ASGI's ``send`` is a coroutine: per frame, Starlette's and uvicorn's message dicts and state
checks, a flow-control wait, and ``websockets`` framing the same text again for each recipient.
With 1,000 recipients of one event that was a third of chatd's CPU outside the ``send()`` system
call (docs/performance.md, workload A). For uvicorn's websockets-sansio protocol, the one chatd
runs, the server frame of an event is built once (with ``websockets``' own framing) and its bytes
written to each transport. Anything else — another protocol class, a compressed connection, a
paused or closing transport, a close already sent — is left to ASGI's ``send``, which waits or
fails as it should.
"""

from __future__ import annotations

from typing import Any

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.frames import Frame as WireFrame
from websockets.frames import Opcode
from websockets.protocol import State

from chatd.session import Frame

# The events being fanned out: one encoded frame per (recipient variant, wire format), written to
# many sockets in turn. Keyed by identity, holding the frame so that its id is not reused.
_CACHE_SIZE = 8
_wire: dict[int, tuple[Frame, bytes]] = {}


def writer_for(send: Any) -> DirectWriter | None:
    """The direct writer behind an ASGI ``send``, if it is uvicorn's sansio protocol's own."""
    protocol = getattr(send, "__self__", None)
    if type(protocol) is not WebSocketsSansIOProtocol:
        return None
    return DirectWriter(protocol)


class DirectWriter:
    __slots__ = ("_protocol",)

    def __init__(self, protocol: WebSocketsSansIOProtocol) -> None:
        self._protocol = protocol

    def __call__(self, frame: Frame) -> bool:
        """Write ``frame`` now and say True, or say False if ASGI's ``send`` must do it."""
        protocol = self._protocol
        if (
            protocol.close_sent
            or protocol.disconnected
            or not protocol.writable.is_set()
            or protocol.conn.state is not State.OPEN
            or protocol.conn.extensions  # compressed per connection: its own framing
            or protocol.transport.is_closing()
        ):
            return False
        protocol.transport.write(_framed(frame))
        return True


def _framed(frame: Frame) -> bytes:
    entry = _wire.get(id(frame))
    if entry is not None and entry[0] is frame:
        return entry[1]
    if isinstance(frame, str):
        wire = WireFrame(Opcode.TEXT, frame.encode()).serialize(mask=False)
    else:
        wire = WireFrame(Opcode.BINARY, frame).serialize(mask=False)
    if len(_wire) >= _CACHE_SIZE:
        _wire.clear()
    _wire[id(frame)] = (frame, wire)
    return wire
