"""The token bucket and the per-key limiter, on an injected clock."""

from __future__ import annotations

import pytest

from gateway.metrics import RATE_LIMITED
from gateway.ratelimit import KeyedLimiter, TokenBucket, retry_after
from streams.errors import AppError, ErrorCode
from tests.clocks import FakeClock

pytestmark = pytest.mark.unit


def test_a_full_bucket_serves_its_capacity_then_says_how_long_to_wait() -> None:
    clock = FakeClock(1000.0)
    bucket = TokenBucket(rate=2.0, capacity=3, clock=clock)
    assert [bucket.take() for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.take() == pytest.approx(0.5)  # one token at 2/s
    assert bucket.take() == pytest.approx(0.5)  # a refused request takes nothing


def test_tokens_come_back_at_the_rate_and_never_above_capacity() -> None:
    clock = FakeClock(1000.0)
    bucket = TokenBucket(rate=2.0, capacity=3, clock=clock)
    for _ in range(3):
        bucket.take()
    clock.now += 0.25
    assert bucket.take() == pytest.approx(0.25)  # half a token there
    clock.now += 0.25
    assert bucket.take() == 0.0
    clock.now += 3600
    assert bucket.tokens == 3.0
    assert [bucket.take() for _ in range(4)][-1] > 0


def test_a_clock_that_steps_back_neither_refills_nor_drains() -> None:
    clock = FakeClock(1000.0)
    bucket = TokenBucket(rate=1.0, capacity=1, clock=clock)
    assert bucket.take() == 0.0
    clock.now -= 100
    assert bucket.take() == pytest.approx(1.0)
    clock.now += 1.0  # back to where it was: still no token
    assert bucket.take() == pytest.approx(1.0)


def test_a_bucket_needs_a_rate_and_a_capacity() -> None:
    with pytest.raises(ValueError):
        TokenBucket(rate=0, capacity=1)
    with pytest.raises(ValueError):
        TokenBucket(rate=1, capacity=0)


@pytest.mark.parametrize(
    ("wait", "seconds"), [(0.001, 1), (0.5, 1), (1.0, 1), (1.0001, 2), (2.5, 3), (10.0, 10)]
)
def test_retry_after_is_whole_seconds_rounded_up_and_at_least_one(wait: float, seconds: int) -> None:
    assert retry_after(wait) == seconds


def test_each_key_has_its_own_bucket_and_a_refusal_says_when() -> None:
    clock = FakeClock(1000.0)
    limiter = KeyedLimiter("job_create", rate=0.5, burst=2, clock=clock)
    before = RATE_LIMITED.labels(limit="job_create")._value.get()
    limiter.check("a")
    limiter.check("a")
    with pytest.raises(AppError) as refused:
        limiter.check("a")
    assert refused.value.code is ErrorCode.RATE_LIMITED
    assert refused.value.http_status == 429
    assert refused.value.details == {"limit": "job_create", "retryAfterSeconds": 2}
    assert RATE_LIMITED.labels(limit="job_create")._value.get() == before + 1
    limiter.check("b")  # another key, the same moment: served
    limiter.check("b")
    clock.now += 2.0
    limiter.check("a")  # after Retry-After: served again
    assert len(limiter) == 2


def test_rate_zero_is_no_limit_and_holds_no_buckets() -> None:
    limiter = KeyedLimiter("job_create", rate=0)
    for _ in range(1000):
        limiter.check("a")
    assert not limiter.enabled and len(limiter) == 0


def test_burst_zero_means_one_seconds_worth_at_least_one() -> None:
    assert KeyedLimiter("x", rate=5).capacity == 5
    assert KeyedLimiter("x", rate=0.2).capacity == 1
    assert KeyedLimiter("x", rate=2.5, burst=7).capacity == 7
