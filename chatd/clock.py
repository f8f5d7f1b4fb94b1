"""Time comes from here, so tests can move it instead of sleeping."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class OffsetClock:
    """The system time moved forward by the seconds written in a file (``CHATD_CLOCK_FILE``).

    Tests drive a chatd running in another process through it: they write ``3600`` into the file
    and that server's scheduler sees one hour later at its next tick. Re-read only when the file
    changes. Never set in production.
    """

    def __init__(self, path: Path) -> None:
        self._path = path
        self._stamp: int | None = None
        self._offset = timedelta()

    def now(self) -> datetime:
        return datetime.now(UTC) + self._current_offset()

    def _current_offset(self) -> timedelta:
        try:
            stamp = os.stat(self._path).st_mtime_ns
        except FileNotFoundError:
            return timedelta()
        if stamp != self._stamp:
            text = self._path.read_text().strip()
            self._offset = timedelta(seconds=float(text or 0))
            self._stamp = stamp
        return self._offset
