"""Outgoing web push (RFC 8030) signed with VAPID (RFC 8292), the payload encrypted for the
browser's subscription keys (RFC 8291, aes128gcm), through pywebpush.

A push service answering 404 or 410 has forgotten the subscription: ``SubscriptionGone``, so the
caller removes it. Another 4xx (but 408 and 429) refuses the message for good; anything else, or
no answer, is retried.
"""

from __future__ import annotations

from cryptography.hazmat.primitives import serialization
from py_vapid import Vapid, b64urlencode
from pywebpush import WebPushException, webpush_async

from scheduler.due import PermanentFailure

# How long a push service keeps a message for a browser that is offline.
TTL_S = 24 * 3600


class SubscriptionGone(PermanentFailure):
    """The push service no longer knows the subscription (the user unsubscribed or it expired)."""


def generate_private_key() -> str:
    """A new VAPID key pair's private key, PEM."""
    vapid = Vapid()
    vapid.generate_keys()
    pem: bytes = vapid.private_pem()
    return pem.decode()


class PushGateway:
    def __init__(self, private_key: str, subject: str, *, timeout_s: float = 15.0) -> None:
        """``private_key``: PEM, or base64url DER or raw (as ``vapid --gen`` and other tools write it)."""
        key = private_key.strip()
        self._vapid = Vapid.from_pem(key.encode()) if key.startswith("-----BEGIN") else Vapid.from_string(key)
        self._subject = subject
        self._timeout_s = timeout_s
        raw = self._vapid.public_key.public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        # What the browser's pushManager.subscribe() takes as applicationServerKey.
        self.public_key: str = b64urlencode(raw)

    async def send(self, endpoint: str, p256dh: str, auth: str, payload: str) -> None:
        try:
            await webpush_async(
                {"endpoint": endpoint, "keys": {"p256dh": p256dh, "auth": auth}},
                data=payload,
                vapid_private_key=self._vapid,
                # A new dict each time: pywebpush writes the audience and expiry into it.
                vapid_claims={"sub": self._subject},
                ttl=TTL_S,
                timeout=self._timeout_s,
            )
        except WebPushException as exc:
            status = exc.status_code
            message = f"push service answered {status}: {exc.message[:200]}"
            if status in (404, 410):
                raise SubscriptionGone(message) from None
            if status is not None and 400 <= status < 500 and status not in (408, 429):
                raise PermanentFailure(message) from None
            raise RuntimeError(message) from None
