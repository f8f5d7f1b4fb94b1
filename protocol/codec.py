"""The two codecs of protocol v1, chosen by WebSocket subprotocol, over the same schemas."""

from __future__ import annotations

from typing import Any

import msgspec

from protocol.errors import ErrorCode, ProtocolError
from protocol.frames import OPS, ClientFrame, RequestId, ServerFrame

JSON_SUBPROTOCOL = "chatd.v1.json"
MSGPACK_SUBPROTOCOL = "chatd.v1.msgpack"
SUBPROTOCOLS = (JSON_SUBPROTOCOL, MSGPACK_SUBPROTOCOL)


class Codec:
    """Turns one WebSocket message into a typed request, and a server frame into one message."""

    def __init__(self, subprotocol: str) -> None:
        self.subprotocol = subprotocol
        self.binary = subprotocol == MSGPACK_SUBPROTOCOL
        if self.binary:
            self._decoder: Any = msgspec.msgpack.Decoder(ClientFrame)
            self._loose: Any = msgspec.msgpack.Decoder()
            self._encoder: Any = msgspec.msgpack.Encoder()
        else:
            self._decoder = msgspec.json.Decoder(ClientFrame)
            self._loose = msgspec.json.Decoder()
            self._encoder = msgspec.json.Encoder()

    def decode(self, payload: str | bytes) -> ClientFrame:
        """Decode one client message, or raise ProtocolError carrying the request id when known."""
        if isinstance(payload, str) == self.binary:
            kind = "text" if isinstance(payload, str) else "binary"
            raise ProtocolError(ErrorCode.BAD_REQUEST, f"{kind} frame on the {self.subprotocol} subprotocol")
        try:
            frame: ClientFrame = self._decoder.decode(payload)
        except msgspec.ValidationError as exc:
            raise self._explain(payload, str(exc)) from None
        except (msgspec.DecodeError, RecursionError, UnicodeDecodeError):
            # Deep nesting and msgpack strings that are not UTF-8 raise RecursionError and
            # UnicodeDecodeError, not DecodeError (found by tests/test_fuzz.py): either would have
            # ended the session with an error in the log.
            raise ProtocolError(ErrorCode.BAD_REQUEST, "undecodable frame") from None
        return frame

    def encode(self, frame: ServerFrame) -> str | bytes:
        data: bytes = self._encoder.encode(frame)
        return data if self.binary else data.decode()

    def _explain(self, payload: str | bytes, detail: str) -> ProtocolError:
        # The strict decode failed: decode loosely to answer with the request id and the right code.
        try:
            loose = self._loose.decode(payload)
        except (msgspec.DecodeError, RecursionError, UnicodeDecodeError):
            return ProtocolError(ErrorCode.BAD_REQUEST, "undecodable frame")
        if not isinstance(loose, dict):
            return ProtocolError(ErrorCode.BAD_REQUEST, "a frame must be an object")
        request_id = _request_id(loose.get("id"))
        op = loose.get("op")
        if not isinstance(op, str):
            return ProtocolError(ErrorCode.BAD_REQUEST, "missing field `op`", request_id)
        if op not in OPS:
            return ProtocolError(ErrorCode.UNKNOWN_OP, f"unknown op {op[:64]!r}", request_id)
        return ProtocolError(ErrorCode.BAD_REQUEST, detail, request_id)


def _request_id(value: object) -> RequestId | None:
    try:
        request_id: RequestId = msgspec.convert(value, RequestId)
    except msgspec.ValidationError:
        return None
    return request_id


_CODECS = {name: Codec(name) for name in SUBPROTOCOLS}


def codec_for(subprotocol: str) -> Codec:
    return _CODECS[subprotocol]
