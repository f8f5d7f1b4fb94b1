"""Moving a running chatd's clock (chatd.clock.OffsetClock) from a test."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path


class TestClock:
    """Writes the offset file a chatd started with ``env`` reads; only ever moves forward."""

    __test__ = False

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0.0
        path.write_text("0")

    @property
    def env(self) -> dict[str, str]:
        return {"CHATD_CLOCK_FILE": str(self.path), "CHATD_SCHEDULER_TICK_MS": "100"}

    def now(self) -> datetime:
        return datetime.now(UTC) + timedelta(seconds=self.offset)

    def advance(self, seconds: float) -> None:
        self.offset += seconds
        self.path.write_text(str(self.offset))
        # The server re-reads the file when its mtime changes; make sure it does within a tick.
        stamp = self.path.stat().st_mtime_ns + 1
        os.utime(self.path, ns=(stamp, stamp))


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")
