"""The service layer's exceptions, mapped to error frames and HTTP statuses only at the edge.

ChatdError(code)
├── BadRequest       bad_request      400
├── Unauthorized     unauthorized     401
├── Forbidden        forbidden        403  (only for what the caller may see)
├── NotFound         not_found        404  (also: exists but the caller may not see it)
├── Conflict         conflict         409
├── ReadOnly         read_only        403  (a read-only bot tried to write)
├── TooLarge         too_large        413
├── UnsupportedType  unsupported_type 415  (an upload whose content is not an accepted kind of file)
├── RateLimited      rate_limited     429  (carries retry_after)
├── ResyncRequired   resync_required  410
└── Unavailable      unavailable      503  (the database cannot be reached; carries retry_after)
"""

from __future__ import annotations

from protocol.errors import ErrorCode


class ChatdError(Exception):
    code: ErrorCode = ErrorCode.INTERNAL
    status: int = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BadRequest(ChatdError):
    code = ErrorCode.BAD_REQUEST
    status = 400


class Unauthorized(ChatdError):
    code = ErrorCode.UNAUTHORIZED
    status = 401


class Forbidden(ChatdError):
    code = ErrorCode.FORBIDDEN
    status = 403


class NotFound(ChatdError):
    code = ErrorCode.NOT_FOUND
    status = 404


class Conflict(ChatdError):
    code = ErrorCode.CONFLICT
    status = 409


class ReadOnly(ChatdError):
    code = ErrorCode.READ_ONLY
    status = 403


class TooLarge(ChatdError):
    code = ErrorCode.TOO_LARGE
    status = 413


class UnsupportedType(ChatdError):
    code = ErrorCode.UNSUPPORTED_TYPE
    status = 415


class RateLimited(ChatdError):
    code = ErrorCode.RATE_LIMITED
    status = 429

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Unavailable(ChatdError):
    code = ErrorCode.UNAVAILABLE
    status = 503

    def __init__(self, message: str, retry_after: float = 1.0) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ResyncRequired(ChatdError):
    code = ErrorCode.RESYNC_REQUIRED
    status = 410
