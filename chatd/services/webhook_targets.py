"""Which URLs a webhook (or a browser's push subscription) may POST to: http(s) only, and never
loopback or private ranges unless the operator allows them (CHATD_WEBHOOK_ALLOW_PRIVATE,
CHATD_PUSH_ALLOW_PRIVATE), so a user cannot make the server probe its own network. Checked when the
URL is set and again before every delivery (DNS can change)."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit

from chatd import errors

MAX_URL_CHARS = 2000


def check_url_shape(url: str, what: str = "webhook") -> None:
    parts = urlsplit(url)
    if len(url) > MAX_URL_CHARS or parts.scheme not in ("http", "https") or not parts.hostname:
        raise errors.BadRequest(f"a {what} URL must be an http:// or https:// URL with a host")
    if parts.username or parts.password:
        raise errors.BadRequest(f"a {what} URL must not carry credentials; requests are signed instead")


async def check_target(
    url: str, *, allow_private: bool, what: str = "webhook", setting: str = "CHATD_WEBHOOK_ALLOW_PRIVATE"
) -> None:
    """BadRequest when the URL is malformed or its host resolves to a non-public address."""
    check_url_shape(url, what)
    if allow_private:
        return
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError:
        raise errors.BadRequest(f"{what} host {host!r} does not resolve") from None
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%")[0])
        if not address.is_global:
            raise errors.BadRequest(
                f"{what} host {host!r} resolves to {address}, a loopback, private or reserved address "
                f"(allowed only with {setting}=1)"
            )
