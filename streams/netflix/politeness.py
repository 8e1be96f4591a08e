"""How politely one worker fetches Netflix: a cap on fetches in flight, a request rate, a pause
of every fetch after a 429 with Retry-After, and a circuit breaker over repeated 403/429s.

Pure asyncio with an injectable clock and sleep (unit tests run it on virtual time). The
fetcher wraps every attempt, retries included, in `Politeness.attempt()`:

    async with politeness.attempt() as outcome:   # may wait; ScrapeError if the breaker is open
        response = ...                            # one HTTP request
        outcome.status(response.status_code)      # tells the pause and the breaker what happened

An attempt that ends without `status()` (a timeout, a network error, a cancel) counts as no
answer: it neither trips nor closes the breaker.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

from streams.errors import ScrapeError
from streams.netflix.metrics import (
    UPSTREAM_CIRCUIT_OPEN,
    UPSTREAM_CIRCUIT_OPENED,
    UPSTREAM_IN_FLIGHT,
    UPSTREAM_PAUSES,
    UPSTREAM_REJECTED,
    UPSTREAM_THROTTLE_SECONDS,
    UPSTREAM_THROTTLED,
)

log = logging.getLogger(__name__)

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[object]]

# Statuses that say "you are blocked or too fast": they count towards opening the breaker.
BLOCKING_STATUSES = frozenset({403, 429})


@dataclass(frozen=True, slots=True)
class PolitenessConfig:
    """The limits (streams.settings: SCRAPE_MAX_CONCURRENT_FETCHES, ...)."""

    max_concurrent: int = 4
    per_second: float = 5.0  # 0: no rate limit
    breaker_threshold: int = 5  # consecutive 403/429 answers that open the breaker; 0: no breaker
    breaker_open_seconds: float = 30.0
    max_pause_seconds: float = 30.0  # a Retry-After longer than this pauses only this long

    def __post_init__(self) -> None:
        if self.max_concurrent < 1:
            raise ValueError("max_concurrent must be >= 1")
        if self.per_second < 0 or not math.isfinite(self.per_second):
            raise ValueError("per_second must be a finite number >= 0")
        if self.breaker_threshold < 0:
            raise ValueError("breaker_threshold must be >= 0")


class Outcome:
    """What one attempt got back; see Politeness.attempt."""

    __slots__ = ("answered", "retry_after")

    def __init__(self) -> None:
        self.answered: int | None = None
        self.retry_after: float | None = None

    def status(self, status: int, retry_after: float | None = None) -> None:
        self.answered = status
        self.retry_after = retry_after


class Politeness:
    """The politeness state of one worker process, shared by all its fetches."""

    def __init__(
        self,
        config: PolitenessConfig | None = None,
        *,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.config = config or PolitenessConfig()
        self._clock = clock
        self._sleep = sleep
        self._slots = asyncio.Semaphore(self.config.max_concurrent)
        self._in_flight = 0
        # Rate: a token bucket in its GCRA form. `_tat` is when the bucket is next full again;
        # a fetch may go at `_tat - burst window`, and each one moves `_tat` by one interval.
        # Waiters reserve their turn at once, so they go in arrival order without a lock.
        self._interval = 1.0 / self.config.per_second if self.config.per_second > 0 else 0.0
        self._burst_window = max(0.0, math.ceil(self.config.per_second) - 1) * self._interval
        self._tat = -math.inf
        self._paused_until = -math.inf
        # The breaker: closed (open_until None), open (now < open_until) or half-open (the open
        # period is over: one probe goes out, the others are still refused until it answers).
        self._blocked_in_a_row = 0
        self._open_until: float | None = None
        self._probe_out = False
        UPSTREAM_CIRCUIT_OPEN.set(0)

    # -- the gate --------------------------------------------------------------------------------

    @asynccontextmanager
    async def attempt(self) -> AsyncIterator[Outcome]:
        """Wait for a slot, the rate and any pause, then hold the slot for one request."""
        probe = self._admit()
        try:
            await self._wait_for_slot()
        except BaseException:
            self._probe_out = self._probe_out and not probe
            raise
        outcome = Outcome()
        sent = False
        try:
            # The slot is held while waiting for the rate, so a burst of waiters cannot go out
            # together later: the rate stays a bound on requests sent.
            await self._wait_for_turn()
            if not probe:
                self._admit_again()  # the breaker may have opened while this one waited
            sent = True
            self._in_flight += 1
            UPSTREAM_IN_FLIGHT.inc()
            yield outcome
        finally:
            if sent:
                self._in_flight -= 1
                UPSTREAM_IN_FLIGHT.dec()
            self._slots.release()
            if probe:
                self._probe_out = False
            self._settle(outcome, probe)

    @property
    def in_flight(self) -> int:
        return self._in_flight

    @property
    def paused_for(self) -> float:
        """Seconds until fetches may go out again after a 429 (0 when not paused)."""
        return max(0.0, self._paused_until - self._clock())

    @property
    def state(self) -> str:
        """closed, open or half_open."""
        if self._open_until is None:
            return "closed"
        return "open" if self._clock() < self._open_until else "half_open"

    async def _wait_for_slot(self) -> None:
        full = self._slots.locked()
        started = self._clock()
        await self._slots.acquire()
        if full:
            self._throttled("concurrency", self._clock() - started)

    def _throttled(self, reason: str, waited: float) -> None:
        UPSTREAM_THROTTLED.labels(reason).inc()
        UPSTREAM_THROTTLE_SECONDS.labels(reason).inc(max(0.0, waited))

    async def _wait_for_turn(self) -> None:
        """The pause first, then the rate; again if a pause began while waiting for the rate."""
        while True:
            pause = self._paused_until - self._clock()
            if pause > 0:
                await self._sleep(pause)
                self._throttled("retry_after", pause)
                continue
            if self._interval:
                now = self._clock()
                tat = max(self._tat, now)
                wait = tat - self._burst_window - now
                self._tat = tat + self._interval
                if wait > 0:
                    await self._sleep(wait)
                    self._throttled("rate", wait)
            if self._paused_until <= self._clock():
                return

    # -- the breaker -----------------------------------------------------------------------------

    def _admit(self) -> bool:
        """Refuse while open; in half-open, let exactly one probe through. True for the probe."""
        if self._open_until is None:
            return False
        now = self._clock()
        if now < self._open_until or self._probe_out:
            self._reject(now)
        self._probe_out = True
        log.info("netflix.breaker half_open: one probe goes out")
        return True

    def _admit_again(self) -> None:
        if self._open_until is not None:
            now = self._clock()
            if now < self._open_until or self._probe_out:
                self._reject(now)

    def _reject(self, now: float) -> None:
        UPSTREAM_REJECTED.inc()
        threshold = self.config.breaker_threshold
        if self._open_until is not None and now >= self._open_until:
            why = "a probe request is checking whether Netflix answers again"
        else:
            seconds = max(1, math.ceil((self._open_until or now) - now))
            why = f"next try in {seconds} s"
        raise ScrapeError(f"Netflix fetches paused after {threshold} consecutive 403/429 responses; {why}")

    def _settle(self, outcome: Outcome, probe: bool) -> None:
        status = outcome.answered
        if status is None:
            return  # no answer (timeout, network error, cancelled): says nothing about blocking
        if status == 429 and outcome.retry_after is not None:
            self._pause(outcome.retry_after)
        threshold = self.config.breaker_threshold
        if status not in BLOCKING_STATUSES:
            self._blocked_in_a_row = 0
            if probe or self._open_until is not None:
                self._close()
            return
        self._blocked_in_a_row += 1
        if threshold and (probe or self._blocked_in_a_row >= threshold):
            if probe or self._open_until is None or self._clock() >= self._open_until:
                self._open(status)

    def _pause(self, retry_after: float) -> None:
        until = self._clock() + min(max(retry_after, 0.0), self.config.max_pause_seconds)
        if until > self._paused_until:
            self._paused_until = until
            UPSTREAM_PAUSES.inc()
            log.warning("netflix.fetch paused seconds=%.1f reason=429 Retry-After", until - self._clock())

    def _open(self, status: int) -> None:
        self._open_until = self._clock() + self.config.breaker_open_seconds
        UPSTREAM_CIRCUIT_OPEN.set(1)
        UPSTREAM_CIRCUIT_OPENED.inc()
        log.warning(
            "netflix.breaker open seconds=%g after=%d consecutive 403/429 last_status=%d",
            self.config.breaker_open_seconds,
            self._blocked_in_a_row,
            status,
        )

    def _close(self) -> None:
        self._open_until = None
        self._blocked_in_a_row = 0
        UPSTREAM_CIRCUIT_OPEN.set(0)
        log.info("netflix.breaker closed: Netflix answered")
