"""The offset clock lets a test move a running server's time by writing a file."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

from chatd.clock import OffsetClock, SystemClock


def test_offset_clock_follows_the_file(tmp_path: Path) -> None:
    path = tmp_path / "clock"
    clock, system = OffsetClock(path), SystemClock()
    assert abs(clock.now() - system.now()) < timedelta(seconds=1)  # no file: no offset
    path.write_text("3600")
    assert timedelta(minutes=59) < clock.now() - system.now() < timedelta(minutes=61)
    path.write_text("-60")
    os.utime(path, ns=(1, 1))  # a rewrite within the same mtime tick must still be seen
    assert timedelta(seconds=-61) < clock.now() - system.now() < timedelta(seconds=-59)
