"""Token buckets keyed by webhook: each trigger's runs per second, with bursts of as many.

The buckets live in the API process, so with several API processes behind a load balancer a
trigger accepts up to its limit on each of them.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from uuid import UUID


@dataclass
class _Bucket:
    rate: float
    tokens: float
    updated: float


class RateLimiter:
    """Per-key token buckets: `rate` tokens a second, holding at most `rate` (the burst)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._buckets: dict[UUID, _Bucket] = {}
        self._lock = threading.Lock()

    def acquire(self, key: UUID, rate: int) -> float:
        """Take a token for `key`; return 0 when granted, else the seconds until one is free."""
        now = self._clock()
        with self._lock:
            bucket = self._buckets.get(key)
            if bucket is None:
                bucket = self._buckets[key] = _Bucket(rate, float(rate), now)
            elif bucket.rate != rate:  # redeployed with another limit
                bucket.rate = rate
            bucket.tokens = min(float(rate), bucket.tokens + (now - bucket.updated) * rate)
            bucket.updated = now
            if bucket.tokens >= 1:
                bucket.tokens -= 1
                return 0.0
            return (1 - bucket.tokens) / rate

    def refund(self, key: UUID) -> None:
        """Give back a token taken for a request that turned out not to count."""
        with self._lock:
            bucket = self._buckets.get(key)
            if bucket is not None:
                bucket.tokens = min(bucket.rate, bucket.tokens + 1)


def retry_after(seconds: float) -> str:
    """Return a Retry-After value (whole seconds, at least 1) for a wait of `seconds`."""
    return str(max(1, math.ceil(seconds)))
