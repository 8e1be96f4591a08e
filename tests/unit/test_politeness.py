"""Politeness on virtual time: the fetch cap, the rate, the global pause after a 429, and the
circuit breaker's open / half-open / closed cycle."""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Callable

import pytest
from prometheus_client import REGISTRY

from streams.errors import ErrorCode, ScrapeError
from streams.netflix.politeness import Politeness, PolitenessConfig
from tests.clocks import FakeClock

pytestmark = pytest.mark.unit


class ManualClock:
    """Virtual time: `sleep` waits until a test `advance`s the clock past its deadline."""

    def __init__(self) -> None:
        self.now = 0.0
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._ids = itertools.count()

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self.now + seconds, next(self._ids), future))
        await future

    async def advance(self, seconds: float) -> None:
        target = self.now + seconds
        while self._sleepers and self._sleepers[0][0] <= target:
            deadline, _, future = heapq.heappop(self._sleepers)
            self.now = max(self.now, deadline)
            if not future.done():
                future.set_result(None)
            await settle()
        self.now = target
        await settle()


async def settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0)


def metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def polite(clock: ManualClock | FakeClock, **config: float) -> Politeness:
    defaults: dict[str, float] = {"per_second": 0}
    return Politeness(PolitenessConfig(**{**defaults, **config}), clock=clock, sleep=clock.sleep)  # type: ignore[arg-type]


async def answer(p: Politeness, status: int, retry_after: float | None = None) -> None:
    async with p.attempt() as outcome:
        outcome.status(status, retry_after)


# -- the cap on fetches in flight ------------------------------------------------------------------


async def test_no_more_than_max_concurrent_fetches_are_in_flight() -> None:
    clock = ManualClock()
    p = polite(clock, max_concurrent=3)
    release = asyncio.Event()
    seen: list[int] = []

    async def fetch() -> None:
        async with p.attempt() as outcome:
            seen.append(p.in_flight)
            await release.wait()
            outcome.status(200)

    throttled = metric("streamproc_upstream_throttled_total", reason="concurrency")
    tasks = [asyncio.create_task(fetch()) for _ in range(10)]
    await settle()
    assert p.in_flight == 3 and len(seen) == 3  # seven wait for a slot
    release.set()
    await asyncio.gather(*tasks)
    assert len(seen) == 10 and max(seen) == 3
    assert p.in_flight == 0
    assert metric("streamproc_upstream_throttled_total", reason="concurrency") == throttled + 7


async def test_a_slot_is_freed_when_the_fetch_fails_or_is_cancelled() -> None:
    p = polite(ManualClock(), max_concurrent=1)
    with pytest.raises(RuntimeError):
        async with p.attempt():
            raise RuntimeError("boom")
    blocker = asyncio.Event()

    async def hold() -> None:
        async with p.attempt():
            await blocker.wait()

    task = asyncio.create_task(hold())
    await settle()
    waiting = asyncio.create_task(answer(p, 200))
    await settle()
    assert not waiting.done()
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await asyncio.wait_for(waiting, 1)
    assert p.in_flight == 0


# -- the rate --------------------------------------------------------------------------------------


async def test_the_rate_lets_a_burst_of_one_second_through_then_spaces_fetches() -> None:
    clock = FakeClock()
    p = polite(clock, per_second=2)
    granted = []
    for _ in range(6):
        async with p.attempt() as outcome:
            granted.append(clock.now)
            outcome.status(200)
    assert granted == pytest.approx([0.0, 0.0, 0.5, 1.0, 1.5, 2.0])

    clock.now += 10.0  # idle: the bucket refills, but no further than one second's worth
    start = clock.now
    for _ in range(3):
        await answer(p, 200)
    assert clock.now - start == pytest.approx(0.5)


async def test_zero_per_second_means_no_rate_limit() -> None:
    clock = FakeClock()
    p = polite(clock, per_second=0)
    for _ in range(100):
        await answer(p, 200)
    assert clock.now == 0.0 and clock.slept == []


async def test_concurrent_waiters_for_the_rate_go_one_interval_apart() -> None:
    clock = ManualClock()
    p = polite(clock, per_second=1, max_concurrent=10)
    granted: list[float] = []

    async def fetch() -> None:
        async with p.attempt() as outcome:
            granted.append(clock.now)
            outcome.status(200)

    tasks = [asyncio.create_task(fetch()) for _ in range(4)]
    await settle()
    for _ in range(4):
        await clock.advance(1.0)
    await asyncio.gather(*tasks)
    assert granted == [0.0, 1.0, 2.0, 3.0]


# -- the global pause after a 429 with Retry-After ----------------------------------------------


async def test_a_429_with_retry_after_pauses_every_fetch_until_then() -> None:
    clock = ManualClock()
    p = polite(clock, max_concurrent=4)
    pauses = metric("streamproc_upstream_pauses_total")
    await answer(p, 429, retry_after=2.0)
    assert p.paused_for == 2.0
    assert metric("streamproc_upstream_pauses_total") == pauses + 1

    granted: list[float] = []

    async def fetch() -> None:
        async with p.attempt() as outcome:
            granted.append(clock.now)
            outcome.status(200)

    tasks = [asyncio.create_task(fetch()) for _ in range(3)]  # other jobs, and the job's retry
    await clock.advance(1.9)
    assert granted == []
    await clock.advance(0.1)
    await asyncio.gather(*tasks)
    assert granted == [2.0, 2.0, 2.0]
    assert p.paused_for == 0.0


async def test_the_pause_is_capped_and_only_extended_by_a_later_one() -> None:
    clock = FakeClock()
    p = polite(clock, max_pause_seconds=5.0)
    await answer(p, 429, retry_after=3600.0)
    assert p.paused_for == 5.0
    await answer(p, 200)  # waits the capped pause
    assert clock.now == 5.0

    async with p.attempt() as earlier, p.attempt() as later:  # two fetches out at once
        later.status(429, 4.0)  # answered first: paused until 9
        earlier.status(429, 1.0)  # a shorter one does not shorten it
    assert p.paused_for == 4.0


async def test_a_429_without_retry_after_or_a_503_with_one_pauses_nothing() -> None:
    clock = FakeClock()
    p = polite(clock)
    await answer(p, 429)
    await answer(p, 503, retry_after=10.0)  # the fetcher gives a 503's Retry-After to its job alone
    assert p.paused_for == 0.0
    await answer(p, 200)
    assert clock.now == 0.0


# -- the circuit breaker -------------------------------------------------------------------------


async def refused(p: Politeness) -> ScrapeError:
    with pytest.raises(ScrapeError) as caught:
        await answer(p, 200)
    assert caught.value.code is ErrorCode.SCRAPE_ERROR
    return caught.value


async def test_the_breaker_opens_after_n_consecutive_403_or_429_then_probes_and_closes() -> None:
    clock = ManualClock()
    p = polite(clock, breaker_threshold=3, breaker_open_seconds=30.0)
    opened = metric("streamproc_upstream_circuit_opened_total")
    rejected = metric("streamproc_upstream_fetches_rejected_total")

    await answer(p, 403)
    await answer(p, 429)
    assert p.state == "closed"
    await answer(p, 403)
    assert p.state == "open"
    assert metric("streamproc_upstream_circuit_open") == 1
    assert metric("streamproc_upstream_circuit_opened_total") == opened + 1

    error = await refused(p)
    assert error.message == "Netflix fetches paused after 3 consecutive 403/429 responses; next try in 30 s"
    await clock.advance(10.0)
    assert (await refused(p)).message.endswith("next try in 20 s")
    assert metric("streamproc_upstream_fetches_rejected_total") == rejected + 2

    # Half-open: exactly one probe goes out; the rest are refused until it answers.
    await clock.advance(20.0)
    assert p.state == "half_open"
    answered = asyncio.Event()

    async def probe(status: int) -> None:
        async with p.attempt() as outcome:
            await answered.wait()
            outcome.status(status)

    first = asyncio.create_task(probe(403))
    await settle()
    assert p.in_flight == 1
    assert "a probe request is checking" in (await refused(p)).message
    answered.set()
    await first
    assert p.state == "open"  # the probe was refused too: open for another period
    assert metric("streamproc_upstream_circuit_opened_total") == opened + 2
    assert (await refused(p)).message.endswith("next try in 30 s")

    await clock.advance(30.0)
    answered.clear()
    second = asyncio.create_task(probe(200))
    await settle()
    answered.set()
    await second
    assert p.state == "closed"
    assert metric("streamproc_upstream_circuit_open") == 0
    await answer(p, 200)  # fetches go out again


async def test_only_consecutive_blocks_count_and_no_answer_counts_for_nothing() -> None:
    clock = FakeClock()
    p = polite(clock, breaker_threshold=3)
    await answer(p, 403)
    await answer(p, 403)
    await answer(p, 404)  # Netflix answered normally: the run is broken
    await answer(p, 403)
    await answer(p, 403)
    with pytest.raises(TimeoutError):  # no answer at all: neither a block nor a success
        async with p.attempt():
            raise TimeoutError
    assert p.state == "closed"
    await answer(p, 429)
    assert p.state == "open"


async def test_a_probe_without_an_answer_lets_the_next_fetch_probe() -> None:
    clock = ManualClock()
    p = polite(clock, breaker_threshold=1, breaker_open_seconds=5.0)
    await answer(p, 403)
    await clock.advance(5.0)
    with pytest.raises(TimeoutError):
        async with p.attempt():
            raise TimeoutError
    assert p.state == "half_open"
    await answer(p, 200)  # the next one is the probe
    assert p.state == "closed"


async def test_a_fetch_waiting_for_a_slot_is_refused_if_the_breaker_opens_meanwhile() -> None:
    clock = ManualClock()
    p = polite(clock, max_concurrent=1, breaker_threshold=1)
    gate = asyncio.Event()

    async def blocked() -> None:
        async with p.attempt() as outcome:
            await gate.wait()
            outcome.status(403)

    first = asyncio.create_task(blocked())
    await settle()
    waiter = asyncio.create_task(answer(p, 200))
    await settle()
    gate.set()
    await first
    with pytest.raises(ScrapeError, match="paused after 1 consecutive"):
        await waiter
    assert p.in_flight == 0


async def test_breaker_threshold_zero_turns_it_off() -> None:
    p = polite(FakeClock(), breaker_threshold=0)
    for _ in range(20):
        await answer(p, 403)
    assert p.state == "closed"


@pytest.mark.parametrize(
    "bad",
    [
        lambda: PolitenessConfig(max_concurrent=0),
        lambda: PolitenessConfig(per_second=-1),
        lambda: PolitenessConfig(breaker_threshold=-1),
    ],
)
def test_config_refuses_nonsense(bad: Callable[[], PolitenessConfig]) -> None:
    with pytest.raises(ValueError):
        bad()
