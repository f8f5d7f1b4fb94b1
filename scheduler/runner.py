"""A thin owner of APScheduler's AsyncIOScheduler with named, non-overlapping periodic jobs."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from apscheduler.schedulers.asyncio import AsyncIOScheduler

logger = logging.getLogger(__name__)

Job = Callable[[], Awaitable[object]]


class Scheduler:
    def __init__(self) -> None:
        self._scheduler = AsyncIOScheduler(timezone="UTC")

    def every(self, name: str, seconds: float, job: Job) -> None:
        """Run ``job`` every ``seconds``; a run still going when the next is due is not doubled."""

        async def run() -> None:
            try:
                await job()
            except Exception:
                logger.exception("scheduled job %s failed; it runs again in %ss", name, seconds)

        self._scheduler.add_job(run, "interval", seconds=seconds, id=name, max_instances=1, coalesce=True)

    def start(self) -> None:
        self._scheduler.start()

    def shutdown(self) -> None:
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)
