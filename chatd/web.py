"""Serves the browser client: index.html never cached, assets under a content-versioned URL cached
for a year, and a strict Content-Security-Policy (no inline code; connections to this origin only)."""

from __future__ import annotations

import hashlib
from pathlib import Path

from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Message, Receive, Scope, Send

ASSETS = "/assets/"
# The video players chatd.richtext turns links into (Message.embeds).
VIDEO_PLAYERS = (
    "https://www.youtube-nocookie.com https://player.vimeo.com https://www.loom.com https://drive.google.com"
)
# index.html names its assets with this placeholder; it becomes /assets/<version>.
ASSETS_PLACEHOLDER = "%ASSETS%"
IMMUTABLE = "public, max-age=31536000, immutable"


def content_version(directory: Path) -> str:
    """A digest of every file: any change to the client gives its assets new URLs."""
    digest = hashlib.sha256()
    for path in sorted(p for p in directory.rglob("*") if p.is_file()):
        digest.update(path.relative_to(directory).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:12]


def security_headers(scope: Scope) -> dict[str, str]:
    host = dict(scope.get("headers", [])).get(b"host", b"").decode("latin-1")
    # 'self' covers ws:/wss: in CSP level 3; the explicit sources keep older browsers working.
    sockets = f" ws://{host} wss://{host}" if host else ""
    policy = (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
        f"font-src 'self'; connect-src 'self'{sockets}; frame-src {VIDEO_PLAYERS}; manifest-src 'self'; "
        "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    )
    return {
        "content-security-policy": policy,
        "x-content-type-options": "nosniff",
        "referrer-policy": "same-origin",
        "x-frame-options": "DENY",
    }


class WebClient:
    """The ASGI app mounted at ``/`` for the files of ``directory``."""

    def __init__(self, directory: Path) -> None:
        self.version = content_version(directory)
        self._files = StaticFiles(directory=directory)
        self._index = (directory / "index.html").read_text().replace(ASSETS_PLACEHOLDER, ASSETS + self.version)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope["path"]
        if path in ("/", "/index.html"):
            headers = {"cache-control": "no-cache", **security_headers(scope)}
            await Response(self._index, media_type="text/html", headers=headers)(scope, receive, send)
            return
        if not path.startswith(ASSETS):
            raise HTTPException(404, f"{path} not found")
        version, _, rest = path[len(ASSETS) :].partition("/")
        # An old page asking for old assets gets today's files, not cached for long.
        cache = IMMUTABLE if version == self.version else "no-cache"

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers["cache-control"] = cache
                for name, value in security_headers(scope).items():
                    headers[name] = value
            await send(message)

        await self._files({**scope, "path": "/" + rest}, receive, send_with_headers)
