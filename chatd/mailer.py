"""Outgoing email over SMTP (aiosmtplib), configured by one URL (``CHATD_SMTP_URL``).

``smtp://user:password@host:587?starttls=true`` or ``smtps://host:465`` (implicit TLS) or
``smtp://localhost:25`` (no TLS, no login).
"""

from __future__ import annotations

from dataclasses import dataclass
from email.message import EmailMessage
from urllib.parse import parse_qs, unquote, urlsplit

import aiosmtplib

from chatd.config import ConfigError, Settings


@dataclass(frozen=True)
class Email:
    to: str
    subject: str
    text: str
    html: str


class Mailer:
    def __init__(self, url: str, sender: str, *, timeout_s: float = 30.0) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise ConfigError(f"CHATD_SMTP_URL must look like smtp://host:port, not {url!r}")
        options = parse_qs(parts.query)
        self._host = parts.hostname
        self._port = parts.port or (465 if parts.scheme == "smtps" else 25)
        self._tls = parts.scheme == "smtps"
        self._starttls = options.get("starttls", ["false"])[0] in ("1", "true", "yes")
        self._user = unquote(parts.username) if parts.username else None
        self._password = unquote(parts.password) if parts.password else None
        self._sender = sender
        self._timeout_s = timeout_s

    async def send(self, email: Email) -> None:
        message = EmailMessage()
        message["From"] = self._sender
        message["To"] = email.to
        message["Subject"] = email.subject
        message.set_content(email.text)
        message.add_alternative(email.html, subtype="html")
        await aiosmtplib.send(
            message,
            hostname=self._host,
            port=self._port,
            use_tls=self._tls,
            start_tls=self._starttls,
            username=self._user,
            password=self._password,
            timeout=self._timeout_s,
        )


def mailer_from(settings: Settings) -> Mailer | None:
    """The configured mailer; None when no SMTP server is configured (no email is sent)."""
    return Mailer(settings.smtp_url, settings.mail_from) if settings.smtp_url else None
