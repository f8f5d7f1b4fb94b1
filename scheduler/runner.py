"""A thin owner of APScheduler's AsyncIOScheduler with named, non-overlapping periodic jobs.

APScheduler only wakes the process up: what is due lives in SQL rows (``scheduler.due``), so a
restart loses nothing and several processes share the work without doing any of it twice.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from scheduler.due import DueWork
from storage import Database

logger = logging.getLogger(__name__)

Job = Callable[[], Awaitable[object]]

# What APScheduler logs when a job is due while its previous run is still going.
_SKIPPED_RUN = 'Execution of job "%s" skipped: maximum number of running instances reached (%d)'


class _SkippedRunNoise(logging.Filter):
    """APScheduler warns each time a job comes due while its previous run still goes. chatd's jobs
    are not doubled by design (``max_instances=1``), and at a 200 ms tick a busy database made that
    a WARNING every tick for each job, paging operators over what the scheduler lag metric
    (``chatd_scheduler_lag_seconds``) measures: drop it."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.msg != _SKIPPED_RUN


class _RunNoise(logging.Filter):
    """APScheduler's executor logs every run twice at INFO ("Running job", "executed
    successfully"): at a 200 ms tick, 60 lines a second, millions a day, drowning what the log is
    for. The scheduler lag metric follows the runs; a run that fails is logged by ``every``'s wrapper."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.WARNING


class Scheduler:
    def __init__(
        self,
        db: Database,
        now: Callable[[], datetime],
        *,
        tick_s: float = 1.0,
        on_lag: Callable[[float], None] | None = None,
    ) -> None:
        apscheduler_log = logging.getLogger("apscheduler.scheduler")
        if not any(isinstance(f, _SkippedRunNoise) for f in apscheduler_log.filters):
            apscheduler_log.addFilter(_SkippedRunNoise())
        # The executor APScheduler starts for "default" logs on this logger.
        runs_log = logging.getLogger("apscheduler.executors.default")
        if not any(isinstance(f, _RunNoise) for f in runs_log.filters):
            runs_log.addFilter(_RunNoise())
        self._scheduler = AsyncIOScheduler(timezone="UTC", logger=apscheduler_log)
        self._tick_s = tick_s
        self.due = DueWork(db, now, on_lag=on_lag)
        self._running: set[asyncio.Task[object]] = set()

    def every(self, name: str, seconds: float, job: Job, *, at_start: bool = False) -> None:
        """Run ``job`` every ``seconds`` (and once at start); a run still going when the next is due
        is not doubled."""

        async def run() -> None:
            task = asyncio.current_task()
            assert task is not None
            self._running.add(task)
            try:
                await job()
            except asyncio.CancelledError:
                # APScheduler cancels a running job at shutdown; its transaction rolls back and
                # the due rows it held become due again, so this is no error.
                logger.info("scheduled job %s stopped by shutdown", name)
            except Exception:
                logger.exception("scheduled job %s failed; it runs again in %ss", name, seconds)
            finally:
                self._running.discard(task)

        # APScheduler reads an explicit next_run_time=None as "paused": pass it only to run at start.
        first = {"next_run_time": datetime.now(UTC)} if at_start else {}
        self._scheduler.add_job(run, "interval", seconds=seconds, id=name, max_instances=1, coalesce=True, **first)

    def start(self) -> None:
        # At start too: what came due while no process was running is done now.
        self.every("due-work", self._tick_s, self.due.run_due, at_start=True)
        self.every("deliveries", self._tick_s, self.due.run_deliveries, at_start=True)
        self._scheduler.start()

    async def shutdown(self, timeout_s: float = 10.0) -> None:
        """Start no new run, let the runs in progress finish (their transactions commit or roll
        back whole), then stop; what is left is due again at the next start."""
        if not self._scheduler.running:
            return
        self._scheduler.pause()
        if self._running:
            await asyncio.wait(set(self._running), timeout=timeout_s)
        self._scheduler.shutdown(wait=False)
