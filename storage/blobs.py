"""Content-addressed files under the data directory: ``<root>/<sha[:2]>/<sha>``.

The same bytes uploaded twice are stored once. Rows in ``attachments`` say who may read a blob;
a blob no row names any more is removed with ``discard``.
"""

from __future__ import annotations

import contextlib
import os
import re
from pathlib import Path

_SHA256 = re.compile(r"[0-9a-f]{64}")


class BlobStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.tmp_dir = root / "tmp"

    def prepare(self) -> None:
        self.tmp_dir.mkdir(parents=True, exist_ok=True)

    def path(self, sha256: str) -> Path:
        if not _SHA256.fullmatch(sha256):
            raise ValueError(f"not a SHA-256 hex digest: {sha256!r}")
        return self.root / sha256[:2] / sha256

    def put(self, source: Path, sha256: str) -> None:
        """Move a finished temporary file into place (a rename: same file system)."""
        target = self.path(sha256)
        if target.exists():
            source.unlink()
            return
        target.parent.mkdir(exist_ok=True)
        os.replace(source, target)

    def discard(self, sha256: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path(sha256).unlink()
