"""Fan-out between processes. The in-process broker is the embedded default; Redis pub/sub joins
several chatd processes. Either way ``publish`` never blocks the caller.

Redis carries a doorbell, not the mail: a process that was cut off catches up from SQL when it
subscribes again, so an outage delays cross-process delivery but loses nothing. A Redis that goes
silent without closing the socket (a dropped route, a frozen host) is noticed by pinging on the
subscription: no answer within two health intervals and the listener reconnects.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from typing import Protocol

import msgspec
import redis.asyncio as redis
from redis.asyncio.client import PubSub
from redis.exceptions import RedisError

from chatd import bus, metrics
from chatd.bus import BusEvent
from chatd.hub import Hub

logger = logging.getLogger(__name__)

CHANNEL = "chatd:events"
# How long stopping waits for the outbox to reach Redis.
_FLUSH_S = 2.0


class Broker(Protocol):
    origin: str

    async def start(self, hub: Hub) -> None: ...

    def publish(self, event: BusEvent) -> None: ...

    async def ping(self) -> None: ...

    async def stop(self) -> None: ...


class LocalBroker:
    """One process: events go straight to this process's hub."""

    def __init__(self) -> None:
        self.origin = uuid.uuid4().hex
        self._hub: Hub | None = None

    async def start(self, hub: Hub) -> None:
        self._hub = hub

    def publish(self, event: BusEvent) -> None:
        assert self._hub is not None, "broker not started"
        self._hub.receive(event)

    async def ping(self) -> None:
        """Nothing to reach: the in-process broker is always there."""

    async def stop(self) -> None:
        self._hub = None


class RedisBroker:
    """Delivers locally at once, and through Redis pub/sub to every other process."""

    def __init__(
        self, url: str, *, outbox_size: int = 10_000, max_backoff_s: float = 1.0, health_s: float = 5.0
    ) -> None:
        self.origin = uuid.uuid4().hex
        self._url = url
        self._max_backoff_s = max_backoff_s
        self._health_s = health_s
        self._outbox: asyncio.Queue[bytes] = asyncio.Queue(outbox_size)
        self._hub: Hub | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._subscribed = asyncio.Event()
        self._ever_subscribed = False
        self._stopping = False

    async def start(self, hub: Hub) -> None:
        self._hub = hub
        # Every command (publish, ping, subscribe's handshake) gives up after one health interval,
        # so a silent Redis costs a retry, never a stuck task.
        self._client = redis.from_url(
            self._url,
            socket_connect_timeout=self._health_s,
            socket_timeout=self._health_s,
            socket_keepalive=True,
            health_check_interval=self._health_s,
        )
        self._tasks = [
            asyncio.create_task(self._listen(), name="redis-listener"),
            asyncio.create_task(self._send(), name="redis-publisher"),
        ]

    def publish(self, event: BusEvent) -> None:
        assert self._hub is not None, "broker not started"
        self._hub.receive(event)
        event = msgspec.structs.replace(event, origin=self.origin)
        try:
            self._outbox.put_nowait(bus.encode(event))
        except asyncio.QueueFull:
            # Redis is down or far behind: other processes fill the gap from SQL when it is back.
            logger.warning("redis outbox full; dropping a doorbell for event %s", event.event_id)

    async def ping(self) -> None:
        """Raise unless Redis answers."""
        await self._client.ping()

    async def stop(self) -> None:
        # What is published just before stopping (a revocation from the CLI) still goes out.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._outbox.join(), _FLUSH_S)
        # A cancellation can be lost in redis-py's own timeouts (asyncio.timeout in Python 3.11 turns
        # one that lands as the timeout fires into a TimeoutError): the loops also check
        # ``_stopping``, so each ends within one health interval even then (a test's teardown hung).
        self._stopping = True
        for task in self._tasks:
            task.cancel()
        if self._tasks:
            _, stuck = await asyncio.wait(self._tasks, timeout=2 * self._health_s)
            if stuck:
                logger.warning("redis tasks still running at stop: %s", ", ".join(t.get_name() for t in stuck))
        with contextlib.suppress(RedisError, OSError, TimeoutError):
            async with asyncio.timeout(self._health_s):
                await self._client.aclose()

    async def _send(self) -> None:
        while True:
            payload = await self._outbox.get()
            backoff = 0.1
            while True:
                try:
                    await self._client.publish(CHANNEL, payload)
                    self._outbox.task_done()
                    break
                except (RedisError, OSError) as exc:
                    logger.warning("redis publish failed (%s); retrying in %.1fs", exc, backoff)
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, self._max_backoff_s)

    async def _listen(self) -> None:
        backoff = 0.1
        while not self._stopping:
            try:
                await self._subscribe_and_deliver()
            except (RedisError, OSError) as exc:
                logger.warning("redis subscription lost (%s); reconnecting in %.1fs", exc, backoff)
            except Exception:
                # Never die quietly: a listener that stops would silently split the processes.
                logger.exception("redis listener failed; resubscribing in %.1fs", backoff)
            if self._subscribed.is_set():
                backoff = 0.1  # it was up: start the backoff over
            self._subscribed.clear()
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, self._max_backoff_s)

    async def _subscribe_and_deliver(self) -> None:
        pubsub = self._client.pubsub(ignore_subscribe_messages=True)
        try:
            await pubsub.subscribe(CHANNEL)
            if self._ever_subscribed:
                metrics.BUS_RECONNECTS.inc()
            self._ever_subscribed = True
            self._subscribed.set()
            assert self._hub is not None
            # Whatever was committed while we were not listening comes from SQL.
            await self._hub.catch_up()
            await self._deliver_while_heard(pubsub)
        finally:
            with contextlib.suppress(RedisError, OSError):
                await pubsub.aclose()  # type: ignore[no-untyped-call]  # redis-py leaves it unannotated

    async def _deliver_while_heard(self, pubsub: PubSub) -> None:
        """Deliver messages; ping when it is quiet, and give up when Redis stays silent."""
        loop = asyncio.get_running_loop()
        heard = loop.time()
        while not self._stopping:
            message = await pubsub.get_message(timeout=self._health_s)
            if message is not None:
                heard = loop.time()
                if message.get("type") == "message":
                    self._receive(message["data"])
                continue
            silent = loop.time() - heard
            if silent > 2 * self._health_s:
                raise ConnectionError(f"no answer from redis for {silent:.1f}s")
            await pubsub.ping()  # its pong counts as hearing from Redis

    def _receive(self, payload: bytes) -> None:
        assert self._hub is not None
        try:
            event = bus.decode(payload)
        except msgspec.DecodeError:
            logger.error("undecodable message on %s ignored", CHANNEL)
            return
        if event.event_id is None and event.origin == self.origin:
            return  # our own ephemeral event: already delivered locally
        self._hub.receive(event)
