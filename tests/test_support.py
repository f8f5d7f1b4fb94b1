"""The harness itself: a chatd that does not come up in time is not left running."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support import ChatdProcess


def _running_on(port: int) -> list[str]:
    """The processes started as ``chatd serve --port PORT``."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            args = cmdline.read_bytes().split(b"\0")
        except OSError:
            continue  # it ended meanwhile
        if b"serve" in args and str(port).encode() in args:
            found.append(cmdline.parent.name)
    return found


def test_a_chatd_that_does_not_listen_in_time_is_stopped_and_its_log_shown(tmp_path: Path) -> None:
    # Far less than Python takes to import chatd: it cannot be listening yet.
    process = ChatdProcess(tmp_path, start_timeout=0.05)
    with pytest.raises(TimeoutError, match="its log ends"):
        process.start()
    assert process.process is None
    assert _running_on(process.port) == []
