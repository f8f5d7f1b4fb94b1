"""Outgoing SMS through a provider's HTTP API: one generic JSON POST.

``POST CHATD_SMS_URL`` with ``{"from", "to", "text"}`` and ``Authorization: Bearer CHATD_SMS_TOKEN``;
any 2xx is sent. A 4xx other than 408 and 429 is the provider refusing the message (retrying cannot
help); anything else, or no answer, is retried.
"""

from __future__ import annotations

import httpx

from chatd.config import Settings
from scheduler.due import PermanentFailure


class SmsGateway:
    def __init__(self, url: str, token: str | None, sender: str, *, timeout_s: float = 15.0) -> None:
        self._url = url
        self._headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._sender = sender
        self._timeout_s = timeout_s

    async def send(self, to: str, text: str) -> None:
        async with httpx.AsyncClient(timeout=self._timeout_s) as client:
            answer = await client.post(
                self._url, json={"from": self._sender, "to": to, "text": text}, headers=self._headers
            )
        if answer.is_success:
            return
        message = f"SMS provider answered {answer.status_code}: {answer.text[:200]}"
        if 400 <= answer.status_code < 500 and answer.status_code not in (408, 429):
            raise PermanentFailure(message)
        raise RuntimeError(message)


def gateway_from(settings: Settings) -> SmsGateway | None:
    """The configured SMS provider; None when none is configured (no SMS is sent)."""
    if not settings.sms_url:
        return None
    token = settings.sms_token.reveal() if settings.sms_token else None
    return SmsGateway(settings.sms_url, token, settings.sms_from)
