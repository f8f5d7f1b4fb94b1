"""Web push: users register their browsers' push subscriptions; notifications on the ``push``
channel become one leased delivery per subscription (retried with backoff like email and SMS), and
a subscription the push service has forgotten (404/410) is removed.

The VAPID key is ``CHATD_VAPID_PRIVATE_KEY`` when set; otherwise one is made on first use and
stored in the database, so every process signs with the same key and browsers' subscriptions
survive restarts.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
from datetime import datetime

from chatd import errors
from chatd.clock import Clock
from chatd.config import Settings
from chatd.services.webhook_targets import check_target
from chatd.webpush import PushGateway, SubscriptionGone, generate_private_key
from scheduler.due import PermanentFailure
from storage import Database
from storage import push as store
from storage.directory import Account
from storage.due import DueItem
from storage.push import Subscription

logger = logging.getLogger(__name__)

ALLOW_SETTING = "CHATD_PUSH_ALLOW_PRIVATE"


def _decoded_length(value: str) -> int | None:
    try:
        return len(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)))
    except (binascii.Error, ValueError):
        return None


class WebPush:
    def __init__(self, db: Database, clock: Clock, settings: Settings) -> None:
        self._db = db
        self._clock = clock
        self._settings = settings
        self._gateway: PushGateway | None = None
        self._lock = asyncio.Lock()

    async def gateway(self) -> PushGateway:
        async with self._lock:
            if self._gateway is None:
                configured = self._settings.vapid_private_key
                if configured is not None:
                    key = configured.reveal()
                else:
                    async with self._db.write() as conn:
                        key = await store.vapid_private_key(conn, generate_private_key(), self._clock.now())
                self._gateway = PushGateway(key, self._settings.vapid_subject)
            return self._gateway

    async def public_key(self) -> str:
        return (await self.gateway()).public_key

    async def subscribe(self, account: Account, *, endpoint: str, p256dh: str, auth: str) -> Subscription:
        await self._check_endpoint(endpoint)
        if _decoded_length(p256dh) != 65 or not p256dh.startswith("B"):
            raise errors.BadRequest("keys.p256dh must be the browser's P-256 public key, base64url (65 bytes)")
        if _decoded_length(auth) != 16:
            raise errors.BadRequest("keys.auth must be the subscription's 16-byte secret, base64url")
        async with self._db.write() as conn:
            return await store.save_subscription(
                conn, user_id=account.user.id, endpoint=endpoint, p256dh=p256dh, auth=auth, now=self._clock.now()
            )

    async def unsubscribe(self, account: Account, *, endpoint: str) -> bool:
        async with self._db.write() as conn:
            return await store.remove_subscription(conn, endpoint=endpoint, user_id=account.user.id)

    async def subscriptions(self, account: Account) -> list[Subscription]:
        async with self._db.read() as conn:
            return await store.subscriptions_of(conn, account.user.id)

    async def deliver(self, item: DueItem, now: datetime) -> None:
        """A leased ``notify.push`` row: the notification's payload to one subscription."""
        assert item.ref_id is not None
        async with self._db.read() as conn:
            found = await store.subscription(conn, item.ref_id)
        if found is None:
            return  # unsubscribed meanwhile: nothing to deliver to
        try:
            await self._check_endpoint(found.endpoint)
        except errors.BadRequest as exc:
            raise PermanentFailure(exc.message) from None
        gateway = await self.gateway()
        try:
            await gateway.send(found.endpoint, found.p256dh, found.auth, str(item.payload["data"]))
        except SubscriptionGone:
            async with self._db.write() as conn:
                await store.remove_subscription(conn, endpoint=found.endpoint)
            logger.info("push subscription %d of user %d is gone: removed", found.id, found.user_id)
            raise

    async def _check_endpoint(self, url: str) -> None:
        await check_target(url, allow_private=self._settings.push_allow_private, what="push", setting=ALLOW_SETTING)
