"""A token bucket: ``rate`` requests a second on average, bursts up to ``burst``."""

from __future__ import annotations

import time


class TokenBucket:
    def __init__(self, rate: float, burst: float | None = None) -> None:
        self._rate = rate
        self._burst = burst if burst is not None else rate
        self._tokens = self._burst
        self._stamp = time.monotonic()

    def take(self) -> float:
        """Take one token; 0.0 when granted, else the seconds to wait before one is there."""
        now = time.monotonic()
        self._tokens = min(self._burst, self._tokens + (now - self._stamp) * self._rate)
        self._stamp = now
        if self._tokens >= 1:
            self._tokens -= 1
            return 0.0
        return (1 - self._tokens) / self._rate
