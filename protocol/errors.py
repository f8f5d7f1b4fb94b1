"""Error codes and close codes of protocol v1 (contract: see docs/protocol.md)."""

from __future__ import annotations

import enum


class ErrorCode(enum.StrEnum):
    BAD_REQUEST = "bad_request"
    UNKNOWN_OP = "unknown_op"
    UNAUTHORIZED = "unauthorized"
    FORBIDDEN = "forbidden"  # the caller sees the object but may not do this to it
    NOT_FOUND = "not_found"
    RATE_LIMITED = "rate_limited"
    TOO_LARGE = "too_large"
    UNSUPPORTED_TYPE = "unsupported_type"
    CONFLICT = "conflict"
    READ_ONLY = "read_only"
    RESYNC_REQUIRED = "resync_required"
    UNAVAILABLE = "unavailable"  # the database cannot be reached: retry after retry_after
    INTERNAL = "internal"


class CloseCode(enum.IntEnum):
    """WebSocket close codes the server uses; 4xxx are chatd's own."""

    GOING_AWAY = 1001  # server shutting down: reconnect elsewhere and resume
    TOO_BIG = 1009  # a frame over the size limit
    TOO_SLOW = 4001  # the session fell too far behind: reconnect and resume
    REVOKED = 4003  # logged out, password changed, deactivated, role changed or token revoked: log in again


class ProtocolError(Exception):
    """A client frame that gets an error frame instead of a result."""

    def __init__(self, code: ErrorCode, message: str, request_id: int | str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.request_id = request_id
