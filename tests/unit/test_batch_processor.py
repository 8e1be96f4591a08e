"""BatchProcessor's policy: a retryable failure retries the whole batch, bounded; then it raises
(the caller must not acknowledge); bad data is dead-lettered without losing the batch."""

from __future__ import annotations

import pytest

from streams.consume import Batch, BatchProcessor, RecordMeta, RejectSink
from streams.errors import AppError, ErrorCode, UnavailableError
from tests.clocks import FakeClock
from tests.unit.test_events import FIXTURES

pytestmark = pytest.mark.unit


class Sink:
    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes | None, dict[str, str]]] = []

    async def send_raw(self, topic: str, *, key: bytes | None, value: bytes | None, headers) -> None:
        self.sent.append((topic, value, {k: v.decode() for k, v in headers}))


class FlakyHandler:
    """Fails `failures` times with a retryable error, then records what it was given."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.calls: list[list[str]] = []

    async def __call__(self, batch: Batch, rejects: RejectSink) -> None:
        self.calls.append([event.id for event, _ in batch])
        if len(self.calls) <= self.failures:
            raise UnavailableError("database unavailable")


def records(n: int) -> list[tuple[bytes | None, RecordMeta]]:
    examples = sorted(FIXTURES.glob("*.json"))[:n]  # real encoded events, one per type
    return [
        (path.read_bytes(), RecordMeta(topic="t", partition=0, offset=i, key=b"k"))
        for i, path in enumerate(examples)
    ]


async def test_an_outage_retries_the_whole_batch_with_capped_backoff() -> None:
    clock, handler = FakeClock(), FlakyHandler(failures=4)
    processor = BatchProcessor(
        "p",
        handler,
        Sink(),
        lambda t: t + ".dlq",
        retry_seconds=60,
        backoff_seconds=1,
        max_backoff_seconds=3,
        sleep=clock.sleep,
        clock=clock,
    )
    await processor.process(records(3))
    assert len(handler.calls) == 5 and all(call == handler.calls[0] for call in handler.calls)
    assert len(handler.calls[0]) == 3
    assert clock.slept == [1, 2, 3, 3]


async def test_an_outage_longer_than_the_budget_raises_for_the_caller_not_to_ack() -> None:
    clock, handler = FakeClock(), FlakyHandler(failures=10**6)
    sink = Sink()
    processor = BatchProcessor(
        "p",
        handler,
        sink,
        lambda t: t + ".dlq",
        retry_seconds=10,
        backoff_seconds=1,
        max_backoff_seconds=4,
        sleep=clock.sleep,
        clock=clock,
    )
    with pytest.raises(UnavailableError):
        await processor.process(records(2))
    assert sum(clock.slept) >= 10 and sink.sent == []  # nothing dead-lettered either


async def test_rejected_events_and_undecodable_records_are_dead_lettered() -> None:
    rows = records(3)

    async def handler(batch: Batch, rejects: RejectSink) -> None:
        await rejects([(1, AppError("no", code=ErrorCode.INVALID_EVENT))])

    sink = Sink()
    processor = BatchProcessor("p", handler, sink, lambda t: t + ".dlq")
    bad = (b"{", RecordMeta(topic="t", partition=0, offset=9, key=None))
    await processor.process([rows[0], bad, rows[1], rows[2]])
    assert [(h["x-original-offset"], h["x-error-code"]) for _, _, h in sink.sent] == [
        ("9", "DECODE_ERROR"),
        ("1", "INVALID_EVENT"),
    ]
    assert sink.sent[1][1] == rows[1][0]  # the original bytes
