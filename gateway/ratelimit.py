"""Token buckets: the per-API-key limit on job creation (per gateway process)."""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from aiohttp import web

from gateway.metrics import RATE_LIMITED
from streams.errors import AppError, ErrorCode

Clock = Callable[[], float]


class TokenBucket:
    """`capacity` tokens, refilled continuously at `rate` per second; a request takes one.
    The clock is injected (monotonic seconds) so tests can move time by hand."""

    def __init__(self, rate: float, capacity: int, clock: Clock = time.monotonic) -> None:
        if rate <= 0 or capacity < 1:
            raise ValueError(f"a token bucket needs rate > 0 and capacity >= 1, got {rate}, {capacity}")
        self.rate = rate
        self.capacity = capacity
        self._clock = clock
        self._tokens = float(capacity)
        self._at = clock()

    def _refill(self) -> None:
        now = self._clock()
        if now > self._at:  # a clock that steps back refills nothing (and takes nothing away)
            self._tokens = min(self.capacity, self._tokens + (now - self._at) * self.rate)
        self._at = max(self._at, now)

    @property
    def tokens(self) -> float:
        self._refill()
        return self._tokens

    def take(self) -> float:
        """Take a token: 0.0 if there was one, else the seconds until there will be one (and
        nothing is taken: a refused request does not push the next one further away)."""
        self._refill()
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return 0.0
        return (1.0 - self._tokens) / self.rate


def retry_after(wait: float) -> int:
    """`Retry-After` in whole seconds, rounded up, at least 1 (a client that waits that long
    finds a token)."""
    return max(1, math.ceil(wait - 1e-9))


class KeyedLimiter:
    """One bucket per key. Only keys that passed authentication get here, so the number of
    buckets is bounded by the configured API keys. `rate == 0` turns the limit off."""

    def __init__(self, name: str, rate: float, burst: int = 0, clock: Clock = time.monotonic) -> None:
        self.name = name
        self.rate = rate
        self.capacity = burst if burst > 0 else max(1, math.ceil(rate))
        self._clock = clock
        self._buckets: dict[str, TokenBucket] = {}

    @property
    def enabled(self) -> bool:
        return self.rate > 0

    def __len__(self) -> int:
        return len(self._buckets)

    def check(self, key: str) -> None:
        """Take a token for `key`, or raise RATE_LIMITED (429) saying when to come back."""
        if not self.enabled:
            return
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = TokenBucket(self.rate, self.capacity, self._clock)
        wait = bucket.take()
        if wait > 0:
            RATE_LIMITED.labels(limit=self.name).inc()
            seconds = retry_after(wait)
            raise AppError(
                f"too many requests for this API key: at most {self.rate:g}/s "
                f"(bursts of {self.capacity}); retry after {seconds} s",
                code=ErrorCode.RATE_LIMITED,
                details={"limit": self.name, "retryAfterSeconds": seconds},
            )


JOB_LIMITER_KEY: web.AppKey[KeyedLimiter] = web.AppKey("job_limiter", KeyedLimiter)


def job_limiter(request: web.Request) -> KeyedLimiter | None:
    return request.app.get(JOB_LIMITER_KEY)
