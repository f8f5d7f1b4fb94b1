"""The SDK's exceptions (the tree is drawn in chatd.client's docstring)."""

from __future__ import annotations


class ClientError(Exception):
    pass


class RequestError(ClientError):
    """The server answered a request with an ``error`` frame."""

    def __init__(self, code: str, message: str, retry_after: float | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.retry_after = retry_after


class RequestTimeout(ClientError):
    pass


class ConnectionLost(ClientError):
    pass


class AuthError(ClientError):
    pass
