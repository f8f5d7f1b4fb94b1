"""The periodic jobs, each one short transaction against storage."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from storage import Database
from storage import events as event_store

logger = logging.getLogger(__name__)


async def prune_events(db: Database, now: Callable[[], datetime], retention: timedelta) -> int:
    """Drop events older than the retention; ``resume`` from before them answers resync_required."""
    async with db.write() as conn:
        count = await event_store.prune_events(conn, now() - retention)
    if count:
        logger.info("pruned %d events older than %s", count, retention)
    return count
