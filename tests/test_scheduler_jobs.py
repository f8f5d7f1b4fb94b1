"""Periodic jobs (scheduler.runner): a run still going when its next tick comes is not doubled,
and that is no warning in the log (at a 200 ms tick, a busy database made it one every tick);
runs are not logged one by one (60 lines a second at that tick), failed runs are."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from pathlib import Path

import pytest

from scheduler import Scheduler
from tests.support import seeder


async def test_a_slow_run_is_not_doubled_and_its_skipped_ticks_log_no_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with seeder(tmp_path, {}) as services:
        await services.db.migrate()
        jobs = Scheduler(services.db, lambda: datetime.now(UTC), tick_s=60)
        runs = 0
        release = asyncio.Event()

        async def slow() -> None:
            nonlocal runs
            runs += 1
            await release.wait()

        jobs.every("slow", 0.02, slow, at_start=True)
        with caplog.at_level(logging.DEBUG, logger="apscheduler"):
            jobs.start()
            await asyncio.sleep(0.5)  # some 25 ticks while the first run goes on
            runs_while_slow = runs
            release.set()
            await asyncio.sleep(0.1)
            await jobs.shutdown()
    assert runs_while_slow == 1
    assert runs > 1  # released, it runs at its ticks again
    skipped = [r for r in caplog.records if "maximum number of running instances" in r.getMessage()]
    assert skipped == []
    assert [r for r in caplog.records if r.name.startswith("apscheduler") and r.levelno >= logging.WARNING] == []


async def test_runs_are_not_logged_one_by_one_but_a_failed_run_is(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with seeder(tmp_path, {}) as services:
        await services.db.migrate()
        jobs = Scheduler(services.db, lambda: datetime.now(UTC), tick_s=60)
        runs = 0

        async def quick() -> None:
            nonlocal runs
            runs += 1

        async def failing() -> None:
            raise RuntimeError("the job broke")

        jobs.every("quick", 0.02, quick, at_start=True)
        jobs.every("failing", 60, failing, at_start=True)
        with caplog.at_level(logging.DEBUG, logger="apscheduler"), caplog.at_level(logging.INFO, logger="scheduler"):
            jobs.start()
            await asyncio.sleep(0.3)
            await jobs.shutdown()
    assert runs > 5
    assert [r.getMessage() for r in caplog.records if r.name.startswith("apscheduler.executors")] == []
    failed = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert [r.getMessage() for r in failed] == ["scheduled job failing failed; it runs again in 60s"]
