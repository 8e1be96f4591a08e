"""The job fan-out's parts without servers: one job-state shape, the tracker, a tail that skips."""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import UTC, datetime, timedelta

import pytest
from aiokafka import ConsumerRecord

from gateway.realtime.jobtail import JobEventTail
from gateway.realtime.jobtracker import JobTracker
from gateway.responses import ok
from projections.queries import emits_for, emits_from_document, fold_job, rest_state
from streams.events import Envelope, encode, new_event
from streams.events.netflix import (
    JobCompleted,
    JobCreated,
    JobError,
    JobFailed,
    JobProgress,
    JobStatus,
    JobStep,
    TitleData,
)
from tests.openapi_check import check_response

pytestmark = pytest.mark.unit
T0 = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
TITLE = TitleData(
    title="Otto",
    year=2022,
    title_id="81616256",
    country="tr",
    url="https://www.netflix.com/tr/title/81616256",
)


def ev(data: object, seq: int, key: str = "j1") -> Envelope:
    return new_event(data, key=key, sequence=seq, clock=lambda: T0 + timedelta(seconds=seq))  # type: ignore[arg-type]


def story(job_id: str = "j1", *, failed: bool = False) -> list[Envelope]:
    cache = JobProgress(
        job_id=job_id,
        progress=10,
        status=JobStatus.PROCESSING,
        step="Checking cache",
        step_code=JobStep.CHECKING_CACHE,
    )
    end: object = (
        JobFailed(job_id=job_id, progress=10, error=JobError(code="TIMEOUT", message="slow"))
        if failed
        else JobCompleted(job_id=job_id, source="cache", data=TITLE)
    )
    return [
        ev(JobCreated(job_id=job_id, url="u", country="tr", title_id="81616256"), 1, job_id),
        ev(cache, 2, job_id),
        ev(end, 3, job_id),
    ]


@pytest.mark.parametrize("failed", [False, True])
def test_live_emits_and_emits_rebuilt_from_the_document_agree(failed: bool) -> None:
    events = story(failed=failed)
    document = fold_job(events)
    assert document is not None
    assert [e for event in events for e in emits_for(event)] == emits_from_document(document)


@pytest.mark.parametrize("failed", [False, True])
def test_the_rest_state_of_held_events_matches_the_contract(failed: bool) -> None:
    document = fold_job(story(failed=failed))
    assert document is not None
    body = json.loads(ok(rest_state(document)).body)  # type: ignore[arg-type]
    check_response("get", "/api/jobs/{jobId}", 200, body)
    assert body["data"]["status"] == ("failed" if failed else "completed")
    assert body["data"]["createdAt"] == "2026-05-01T12:00:01.000Z"


async def test_the_tracker_dedups_bounds_and_wakes_waiters() -> None:
    tracker = JobTracker(max_jobs=2)
    first, *rest = story("a")
    waiting = asyncio.create_task(tracker.wait_known("a", 5))
    await asyncio.sleep(0)
    assert tracker.track(first) and not tracker.track(first)  # a redelivery is not news
    assert await waiting
    tracker.mark_delivered("a", [2])
    assert not tracker.track(rest[0])  # step 2 was served from the read model already
    assert tracker.track(rest[1])
    job = await tracker.wait_done("a", 1)
    assert job is not None and job.terminal is not None and job.status == "completed"
    for other in ("b", "c"):
        tracker.track(story(other)[0])
    assert tracker.get("a") is None  # least recently used, dropped
    assert not await tracker.wait_known("nope", 0.01)


def record(value: bytes | None, offset: int) -> ConsumerRecord[bytes, bytes]:
    return ConsumerRecord(
        topic="t.netflix.job-events",
        partition=0,
        offset=offset,
        timestamp=0,
        timestamp_type=0,
        key=b"j1",
        value=value,
        checksum=None,
        serialized_key_size=2,
        serialized_value_size=len(value or b""),
        headers=[],
    )


async def test_the_tail_logs_and_skips_what_it_cannot_decode_or_deliver(
    caplog: pytest.LogCaptureFixture,
) -> None:
    delivered: list[Envelope] = []

    async def deliver(event: Envelope) -> None:
        if event.sequence == 1:
            raise RuntimeError("emit failed")
        delivered.append(event)

    tail = JobEventTail("127.0.0.1:9", "t.netflix.job-events", deliver)
    events = story()
    with caplog.at_level(logging.WARNING, logger="gateway.realtime.jobtail"):
        await tail.handle(record(b"not json", 0))
        await tail.handle(record(encode(events[0]), 1))
        await tail.handle(record(encode(events[1]), 2))
    assert [e.id for e in delivered] == [events[1].id]
    messages = [r.getMessage() for r in caplog.records]
    assert any("undecodable" in m and "@0" in m for m in messages)
    assert any("could not deliver" in m and "@1" in m and events[0].id in m for m in messages)


async def test_the_tail_lets_cancellation_through() -> None:
    async def deliver(event: Envelope) -> None:
        raise asyncio.CancelledError

    tail = JobEventTail("127.0.0.1:9", "t.netflix.job-events", deliver)
    with pytest.raises(asyncio.CancelledError):
        await tail.handle(record(encode(story()[0]), 0))
