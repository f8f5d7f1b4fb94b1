"""The benchmark suite runs end to end at a tiny size (``python -m bench run --smoke``): every
workload against real servers, and nothing lost, duplicated or reordered. Speed is never asserted
here; the figures live in docs/performance.md."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.support import ROOT


def test_every_workload_delivers_every_message_once_in_order(tmp_path: Path) -> None:
    run = subprocess.run(
        [sys.executable, "-m", "bench", "run", "--smoke", "--out", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=170,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["A"]["saturation_20"]["chatd"]["correct"]
    assert results["A"]["saturation_20"]["websockets"]["correct"]
    assert results["A"]["latency"]["chatd"]["correct"]
    assert results["B"]["sqlite_1"]["correct"]
    assert results["C"]["chatd"]["correct"]
    assert all(run["connections"] == 50 for run in results["C"]["chatd"]["runs"])
    assert results["D"]["chatd"]["correct"]
    assert results["D"]["chatd"]["runs"][0]["missed"] == 10
    assert "| A: room fan-out |" in (tmp_path / "results.md").read_text()
    assert (tmp_path / "results.png").read_bytes().startswith(b"\x89PNG")
