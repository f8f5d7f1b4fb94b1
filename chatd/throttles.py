"""Limits that hold across every session and process: the per-user request rate limit, the typing
throttle, and the per-address login attempts (slowing password guessing).

With Redis configured every process counts in Redis, so a user with sessions on several
processes gets one budget. Without it (one process), or while Redis is unreachable, the counts
are this process's own: a Redis outage relaxes the limits, it never blocks chat.
"""

from __future__ import annotations

import logging
import time
from typing import Protocol

import redis.asyncio as redis
from redis.exceptions import RedisError

from chatd.ratelimit import TokenBucket

logger = logging.getLogger(__name__)

# A token bucket in a hash, on Redis' own clock so processes' clocks need not agree. Returns the
# seconds to wait for a token ("0" when one was taken) as a string: Lua numbers reach Python
# truncated to integers.
_TAKE = """
local rate, burst = tonumber(ARGV[1]), tonumber(ARGV[2])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'stamp')
local tokens = tonumber(state[1]) or burst
local stamp = tonumber(state[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - stamp) * rate)
local wait = 0
if tokens >= 1 then tokens = tokens - 1 else wait = (1 - tokens) / rate end
redis.call('HSET', KEYS[1], 'tokens', tokens, 'stamp', now)
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)
return tostring(wait)
"""
# After a failed Redis call, count locally this long before trying Redis again, so an outage
# costs one timeout, not one per request.
_RETRY_AFTER_S = 1.0
# Connections to Redis for the limits, per process: each check holds one for a round trip.
_REDIS_CONNECTIONS = 20
_MAX_LOCAL_KEYS = 10_000


class Throttles(Protocol):
    async def take_request(self, user_id: int) -> float:
        """Take one request from the user's budget: 0.0 when granted, else seconds to wait."""
        ...

    async def first_typing(self, user_id: int, thread_id: int) -> bool:
        """Whether this typing notice is the first of its interval (and should fan out)."""
        ...

    async def take_login(self, address: str) -> float:
        """Take one password attempt from the address's budget: 0.0 when granted, else seconds to wait."""
        ...

    async def close(self) -> None: ...


class LocalThrottles:
    def __init__(self, requests_per_second: float, typing_interval_s: float, logins_per_minute: int) -> None:
        self._rate = requests_per_second
        self._typing_interval_s = typing_interval_s
        self._logins_per_minute = logins_per_minute
        self._buckets: dict[str, TokenBucket] = {}
        self._typing_sent: dict[tuple[int, int], float] = {}

    async def take_request(self, user_id: int) -> float:
        return self._take(f"user:{user_id}", self._rate, self._rate)

    async def take_login(self, address: str) -> float:
        return self._take(f"login:{address}", self._logins_per_minute / 60, self._logins_per_minute)

    def _take(self, key: str, rate: float, burst: float) -> float:
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= _MAX_LOCAL_KEYS:
                self._buckets.clear()  # forgetting a bucket only refills it early
            bucket = self._buckets[key] = TokenBucket(rate, burst)
        return bucket.take()

    async def first_typing(self, user_id: int, thread_id: int) -> bool:
        moment = time.monotonic()
        key = (user_id, thread_id)
        if moment - self._typing_sent.get(key, -self._typing_interval_s) < self._typing_interval_s:
            return False
        if len(self._typing_sent) >= _MAX_LOCAL_KEYS:
            cutoff = moment - self._typing_interval_s
            self._typing_sent = {k: t for k, t in self._typing_sent.items() if t > cutoff}
        self._typing_sent[key] = moment
        return True

    async def close(self) -> None:
        """Nothing to release."""


class RedisThrottles:
    def __init__(self, url: str, requests_per_second: float, typing_interval_s: float, logins_per_minute: int) -> None:
        # Requests beyond the pool's connections wait for one (up to the same quarter second)
        # instead of failing: with the default pool, a reconnect storm's first 100 checks took every
        # connection and the rest fell back to counting in the process.
        pool = redis.BlockingConnectionPool.from_url(
            url, max_connections=_REDIS_CONNECTIONS, timeout=0.25, socket_connect_timeout=0.25, socket_timeout=0.25
        )
        self._client = redis.Redis(connection_pool=pool)
        self._take = self._client.register_script(_TAKE)
        self._rate = requests_per_second
        self._logins_per_minute = logins_per_minute
        self._typing_ms = int(typing_interval_s * 1000)
        self._local = LocalThrottles(requests_per_second, typing_interval_s, logins_per_minute)
        self._down_until = 0.0

    async def take_request(self, user_id: int) -> float:
        if self._redis_down():
            return await self._local.take_request(user_id)
        try:
            wait = await self._take(keys=[f"chatd:rate:{user_id}"], args=[self._rate, self._rate])
        except (RedisError, OSError) as exc:
            self._failed(exc)
            return await self._local.take_request(user_id)
        return float(wait)

    async def take_login(self, address: str) -> float:
        if self._redis_down():
            return await self._local.take_login(address)
        per_minute = self._logins_per_minute
        try:
            wait = await self._take(keys=[f"chatd:login:{address}"], args=[per_minute / 60, per_minute])
        except (RedisError, OSError) as exc:
            self._failed(exc)
            return await self._local.take_login(address)
        return float(wait)

    async def first_typing(self, user_id: int, thread_id: int) -> bool:
        if self._redis_down():
            return await self._local.first_typing(user_id, thread_id)
        try:
            first = await self._client.set(f"chatd:typing:{user_id}:{thread_id}", b"1", nx=True, px=self._typing_ms)
        except (RedisError, OSError) as exc:
            self._failed(exc)
            return await self._local.first_typing(user_id, thread_id)
        return bool(first)

    async def close(self) -> None:
        await self._client.aclose()

    def _redis_down(self) -> bool:
        return time.monotonic() < self._down_until

    def _failed(self, exc: Exception) -> None:
        logger.warning("redis unreachable for limits (%s); counting in this process for now", exc)
        self._down_until = time.monotonic() + _RETRY_AFTER_S
