"""Outgoing webhooks: the events a bot may see, POSTed to its URL and signed, for bots without a socket.

Two steps, each a short transaction run by the scheduler; neither is on the path that delivers
messages to people:

1. fan-out: events after a stored cursor become delivery rows for each active webhook whose bot may
   see them (the same visibility rules as its socket), rendered as the bot would receive them;
2. delivery: due rows are claimed with a lease, POSTed with an HMAC-SHA256 signature over
   ``<timestamp>.<body>``, and marked delivered, or retried with exponential backoff; a webhook that
   fails ``webhook_disable_after`` times in a row is disabled with the reason shown by the API.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import secrets
from dataclasses import dataclass
from datetime import timedelta

import httpx
import msgspec
from sqlalchemy.ext.asyncio import AsyncConnection

from chatd import errors
from chatd.clock import Clock
from chatd.config import Settings
from chatd.services import events as rendering
from chatd.services.bots import Bots
from chatd.services.webhook_targets import check_target
from storage import Database
from storage import NotFound as StorageNotFound
from storage import directory as directory_store
from storage import events as event_store
from storage import webhooks as store
from storage.directory import Account
from storage.webhooks import Claim, DeliveryRecord, NewDelivery, WebhookRecord

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Chatd-Signature"
TIMESTAMP_HEADER = "X-Chatd-Timestamp"
DELIVERY_HEADER = "X-Chatd-Delivery"
FAN_OUT_BATCH = 500
CLAIM_BATCH = 20


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The signature header's value: ``v1=`` and the hex HMAC-SHA256 of ``<timestamp>.<body>``."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return "v1=" + mac.hexdigest()


@dataclass(frozen=True, slots=True)
class Status:
    webhook: WebhookRecord
    deliveries: dict[str, int]


class Webhooks:
    def __init__(self, db: Database, clock: Clock, settings: Settings, bots: Bots) -> None:
        self._db = db
        self._clock = clock
        self._settings = settings
        self._bots = bots
        self._http = httpx.AsyncClient(
            timeout=settings.webhook_timeout_s,
            follow_redirects=False,
            headers={"User-Agent": "chatd-webhooks/1", "Content-Type": "application/json"},
        )
        # Shutdown waits for a run in progress, so it ends cleanly instead of being cancelled mid-query.
        self._idle = asyncio.Event()
        self._idle.set()
        self._closed = False

    async def close(self) -> None:
        self._closed = True
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._idle.wait(), self._settings.webhook_timeout_s + 5)
        await self._http.aclose()

    # -- owners --

    async def configure(self, owner: Account, bot_id: int, url: str) -> WebhookRecord:
        """Set the bot's webhook (a new secret each time); events from now on are delivered."""
        await self._bots.get(owner, bot_id)
        await check_target(url, allow_private=self._settings.webhook_allow_private)
        async with self._db.write() as conn:
            newest = await event_store.newest_event_id(conn)
            return await store.replace_webhook(
                conn,
                bot_id=bot_id,
                url=url,
                secret="whsec_" + secrets.token_urlsafe(32),
                after_event_id=newest,
                now=self._clock.now(),
            )

    async def status(self, owner: Account, bot_id: int) -> Status:
        await self._bots.get(owner, bot_id)
        async with self._db.read() as conn:
            webhook = await store.get_webhook(conn, bot_id)
            if webhook is None:
                raise errors.NotFound(f"bot {bot_id} has no webhook")
            return Status(webhook, await store.delivery_counts(conn, webhook.id))

    async def deliveries(self, owner: Account, bot_id: int, limit: int) -> list[DeliveryRecord]:
        """The newest deliveries first, with their state, attempts and last error."""
        webhook = (await self.status(owner, bot_id)).webhook
        async with self._db.read() as conn:
            return await store.recent_deliveries(conn, webhook.id, limit)

    async def enable(self, owner: Account, bot_id: int) -> Status:
        """Turn a disabled webhook back on; its pending deliveries go out again."""
        await self.status(owner, bot_id)
        async with self._db.write() as conn:
            await store.enable_webhook(conn, bot_id)
        return await self.status(owner, bot_id)

    async def remove(self, owner: Account, bot_id: int) -> None:
        await self._bots.get(owner, bot_id)
        async with self._db.write() as conn:
            if not await store.delete_webhook(conn, bot_id):
                raise errors.NotFound(f"bot {bot_id} has no webhook")

    # -- the scheduler's job --

    async def run_once(self) -> None:
        if self._closed:
            return
        self._idle.clear()
        try:
            await self.fan_out()
            while not self._closed and await self.deliver_due() == CLAIM_BATCH:
                pass
        finally:
            self._idle.set()

    async def fan_out(self) -> int:
        """Turn new events into delivery rows; returns how many rows were made.

        The events are read and rendered in a read transaction: on SQLite the write lock, which
        every send queues for, is only taken to move the cursor (on condition: another process may
        have moved it meanwhile, then there is nothing to do) and store the rows."""
        now = self._clock.now()
        async with self._db.read() as conn:
            # Never past an id that can still commit (PostgreSQL commits ids out of order).
            newest = await event_store.settled_event_id(conn)
            cursor = await store.fanned_out_through(conn)
            if cursor is not None and newest <= cursor:
                return 0
            through = newest if cursor is None else min(newest, cursor + FAN_OUT_BATCH)
            # First run on this store: start from now, nothing from before webhooks existed.
            deliveries = [] if cursor is None else await self._deliveries(conn, cursor, through)
        async with self._db.write() as conn:
            if not await store.advance_fan_out(conn, cursor, through):
                return 0
            await store.insert_deliveries(conn, deliveries, now)
        return len(deliveries)

    async def deliver_due(self) -> int:
        """POST the due deliveries; returns how many were attempted."""
        now = self._clock.now()
        lease = timedelta(seconds=self._settings.webhook_timeout_s * 2 + 30)
        async with self._db.read() as conn:
            if not await store.any_due(conn, now):
                return 0
        async with self._db.write() as conn:
            claims = await store.claim_due(conn, now, now + lease, CLAIM_BATCH)
        if not claims:
            return 0
        outcomes = await asyncio.gather(*(self._post(claim) for claim in claims))
        done = self._clock.now()
        async with self._db.write() as conn:
            for claim, error in zip(claims, outcomes, strict=True):
                if error is None:
                    await store.record_success(conn, claim, done)
                    continue
                attempt = claim.attempts + 1
                retry_at = done + self._backoff(attempt) if attempt < self._settings.webhook_max_attempts else None
                logger.info(
                    "delivery %s to webhook %s failed (attempt %d): %s; %s",
                    claim.id,
                    claim.webhook_id,
                    attempt,
                    error,
                    f"retry at {retry_at:%H:%M:%S}" if retry_at else "giving up",
                )
                disabled = await store.record_failure(
                    conn, claim, done, error, retry_at=retry_at, disable_after=self._settings.webhook_disable_after
                )
                if disabled:
                    logger.warning("webhook %s disabled after repeated failures: %s", claim.webhook_id, error)
        return len(claims)

    # -- helpers --

    async def _deliveries(self, conn: AsyncConnection, cursor: int, through: int) -> list[NewDelivery]:
        deliveries: list[NewDelivery] = []
        for webhook in await store.active_webhooks(conn):
            try:
                bot = await directory_store.get_account(conn, webhook.bot_id)
            except StorageNotFound:
                continue
            if not bot.active:
                continue
            after = max(cursor, webhook.after_event_id)
            if after >= through:
                continue
            records = await event_store.events_for_viewer(
                conn, bot.viewer, after=after, through=through, limit=FAN_OUT_BATCH
            )
            for event in await rendering.render(conn, records):
                assert event.event_id is not None
                if event.type == "message.created" and event.own_user_id == bot.user.id:
                    continue  # a bot is not told of its own messages: no reply loops
                data = event.data_of(event.variant(bot.user.id, bot.user.role.is_client))
                payload = msgspec.json.encode({"type": event.type, "event_id": event.event_id, "data": data})
                deliveries.append(NewDelivery(webhook.id, event.event_id, event.type, payload.decode()))
        return deliveries

    async def _post(self, claim: Claim) -> str | None:
        """POST one delivery; None on a 2xx answer, else what went wrong."""
        try:
            await check_target(claim.url, allow_private=self._settings.webhook_allow_private)
        except errors.BadRequest as exc:
            return f"refused: {exc.message}"
        body = b'{"delivery_id":%d,"attempt":%d,"event":%s}' % (claim.id, claim.attempts + 1, claim.payload.encode())
        timestamp = int(self._clock.now().timestamp())
        headers = {
            TIMESTAMP_HEADER: str(timestamp),
            SIGNATURE_HEADER: sign(claim.secret, timestamp, body),
            DELIVERY_HEADER: str(claim.id),
        }
        try:
            answer = await self._http.post(claim.url, content=body, headers=headers)
        except httpx.TimeoutException:
            return f"timed out after {self._settings.webhook_timeout_s:g}s"
        except httpx.HTTPError as exc:
            return f"{type(exc).__name__}: {exc}"[:500]
        if 200 <= answer.status_code < 300:
            return None
        return f"HTTP {answer.status_code}"

    def _backoff(self, attempt: int) -> timedelta:
        seconds = self._settings.webhook_retry_base_s * 2 ** (attempt - 1)
        return timedelta(seconds=min(seconds, 3600))
