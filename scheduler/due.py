"""Running due work: handlers registered per kind, rows claimed from storage when due.

A *transactional* handler writes its effect in the transaction that claimed the row and returns
an outcome; the row is settled in that same transaction, so the effect happens exactly once. A
*delivery* handler does I/O outside the database (SMTP, HTTP) on a leased row: at least once, retried
with backoff when it raises, and failed for good (kept for staff to see) after ``max_attempts``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from storage import Database, Transaction
from storage import due as due_store
from storage.due import DueItem

logger = logging.getLogger(__name__)

AfterCommit = Callable[[], None]


@dataclass
class Done:
    """The work is done; ``after_commit`` runs once the transaction is committed (publishing events)."""

    after_commit: list[AfterCommit] = field(default_factory=list)


@dataclass
class Again:
    """Due again at ``at`` (a recurrence, the next reminder); this occurrence's effect is written."""

    at: datetime
    after_commit: list[AfterCommit] = field(default_factory=list)


@dataclass
class Failed:
    """The work cannot be done (its thread is gone, its author removed): kept as failed with the reason.
    Whatever the handler wrote (a report to the author) is committed with it."""

    reason: str
    after_commit: list[AfterCommit] = field(default_factory=list)


Outcome = Done | Again | Failed
Handler = Callable[[Transaction, DueItem, datetime], Awaitable[Outcome]]
Delivery = Callable[[DueItem, datetime], Awaitable[None]]


class PermanentFailure(Exception):
    """Raised by a delivery that retrying cannot help (no address, rejected recipient)."""


@dataclass(frozen=True)
class RetryPolicy:
    first_delay: timedelta = timedelta(seconds=30)
    max_delay: timedelta = timedelta(hours=1)
    max_attempts: int = 8

    def retry_at(self, attempts: int, now: datetime) -> datetime | None:
        if attempts >= self.max_attempts:
            return None
        delay: timedelta = min(self.first_delay * 2 ** max(attempts - 1, 0), self.max_delay)
        return now + delay


class DueWork:
    def __init__(
        self,
        db: Database,
        now: Callable[[], datetime],
        *,
        batch: int = 200,
        lease: timedelta = timedelta(minutes=2),
        retry: RetryPolicy | None = None,
        on_lag: Callable[[float], None] | None = None,
    ) -> None:
        self._db = db
        # Told, in seconds, how late each claimed item is started (its due time to now).
        self._on_lag = on_lag
        self._now = now
        self._batch = batch
        self._lease = lease
        self._retry = retry or RetryPolicy()
        self._handlers: dict[str, Handler] = {}
        self._deliveries: dict[str, Delivery] = {}

    def on(self, kind: str, handler: Handler) -> None:
        """Handle rows of ``kind`` in the claiming transaction (exactly once)."""
        self._check_new(kind)
        self._handlers[kind] = handler

    def on_delivery(self, kind: str, delivery: Delivery) -> None:
        """Deliver rows of ``kind`` outside the database (at least once, retried with backoff)."""
        self._check_new(kind)
        self._deliveries[kind] = delivery

    @property
    def delivery_kinds(self) -> list[str]:
        return sorted(self._deliveries)

    def _check_new(self, kind: str) -> None:
        if kind in self._handlers or kind in self._deliveries:
            raise ValueError(f"a handler for due work of kind {kind!r} is already registered")

    async def run_due(self) -> int:
        """Handle every due row of the transactional kinds (up to one batch); the count handled."""
        kinds = sorted(self._handlers)
        if not await self._any_due(kinds):
            return 0
        handled = 0
        while handled < self._batch:
            if not await self._handle_one(kinds):
                break
            handled += 1
        return handled

    async def _any_due(self, kinds: list[str]) -> bool:
        """Checked by a read first: on SQLite an idle tick takes no write lock, which every send
        queues for (six jobs took it each tick, all at once)."""
        if not kinds:
            return False
        async with self._db.read() as conn:
            return await due_store.any_due(conn, kinds, self._now())

    async def _handle_one(self, kinds: list[str]) -> bool:
        now = self._now()
        item: DueItem | None = None
        try:
            async with self._db.write() as conn:
                item = await due_store.claim_due(conn, kinds, now)
                if item is None:
                    return False
                if self._on_lag is not None:
                    self._on_lag(max(0.0, (now - item.due_at).total_seconds()))
                outcome = await self._handlers[item.kind](conn, item, now)
                if isinstance(outcome, Again):
                    await due_store.set_outcome(conn, item.id, now=now, state=due_store.PENDING, due_at=outcome.at)
                elif isinstance(outcome, Failed):
                    logger.warning("due %s %d failed: %s", item.kind, item.id, outcome.reason)
                    await due_store.set_outcome(conn, item.id, now=now, state=due_store.FAILED, error=outcome.reason)
        except Exception as exc:
            if item is None:
                raise
            logger.exception("due %s %d raised; retried later", item.kind, item.id)
            async with self._db.write() as conn:
                retry_at = self._retry.retry_at(item.attempts, now)
                await due_store.record_crash(conn, item, _describe(exc), retry_at=retry_at, now=now)
            return True
        for effect in outcome.after_commit:
            effect()
        return True

    async def run_deliveries(self) -> int:
        """Lease due delivery rows (up to one batch) and deliver them concurrently; the count leased."""
        kinds = self.delivery_kinds
        if not await self._any_due(kinds):
            return 0
        leased: list[DueItem] = []
        while len(leased) < self._batch:
            now = self._now()
            async with self._db.write() as conn:
                item = await due_store.lease_due(conn, kinds, now, self._lease)
            if item is None:
                break
            leased.append(item)
        await asyncio.gather(*(self._deliver(item) for item in leased))
        return len(leased)

    async def _deliver(self, item: DueItem) -> None:
        timeout = self._lease.total_seconds() / 2
        try:
            await asyncio.wait_for(self._deliveries[item.kind](item, self._now()), timeout)
        except PermanentFailure as exc:
            await self._record(item, _describe(exc), retry_at=None)
        except Exception as exc:
            logger.warning("delivery %s %d attempt %d failed: %s", item.kind, item.id, item.attempts, _describe(exc))
            await self._record(item, _describe(exc), retry_at=self._retry.retry_at(item.attempts, self._now()))
        else:
            async with self._db.write() as conn:
                await due_store.finish_lease(conn, item, self._now())

    async def _record(self, item: DueItem, error: str, *, retry_at: datetime | None) -> None:
        if retry_at is None:
            logger.warning("delivery %s %d failed for good: %s", item.kind, item.id, error)
        async with self._db.write() as conn:
            await due_store.record_failure(conn, item, error, retry_at=retry_at, now=self._now())


def _describe(exc: BaseException) -> str:
    text = str(exc)
    if isinstance(exc, TimeoutError) and not text:
        return "timed out"
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
