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
    TERMINAL_SEQUENCE,
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
        ev(end, TERMINAL_SEQUENCE, job_id),  # a cache hit is 1, 2, 6 (fixed numbers per step)
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


async def test_the_tracker_dedups_releases_in_order_and_wakes_waiters() -> None:
    tracker = JobTracker()
    created, cache, end = story("a")
    waiting = asyncio.create_task(tracker.wait_known("a", 5))
    await asyncio.sleep(0)
    # The worker's first step can reach the log before the gateway's job.created: held.
    assert tracker.track(cache) == []
    assert await waiting
    assert tracker.track(created) == [created, cache]
    assert tracker.track(created) == [] and tracker.track(cache) == []  # redeliveries
    assert tracker.track(end) == [end]
    job = await tracker.wait_done("a", 1)
    assert job is not None and job.terminal is not None and job.status == "completed"
    assert job.replayable and job.released_events() == [created, cache, end]
    assert not await tracker.wait_known("nope", 0.01)


def test_a_rerun_on_a_shorter_path_still_ends_the_job_and_holes_are_not_replayed() -> None:
    """A worker died after steps 1-5 (title stored, job.completed not); the rerun of the request
    finds the title in the database: 2 and 3 again (dropped), then the terminal event at 6."""
    tracker = JobTracker()
    created, cache, end = story("a")
    steps = [
        ev(JobProgress(job_id="a", progress=p, status=JobStatus.PROCESSING, step="s", step_code=c), seq, "a")
        for seq, p, c in [
            (3, 30, JobStep.CHECKING_DATABASE),
            (4, 50, JobStep.SCRAPING_NETFLIX),
            (5, 80, JobStep.SAVING_TO_DATABASE),
        ]
    ]
    assert tracker.track(created) == [created]
    assert tracker.track(cache) == [cache]
    assert [tracker.track(s) for s in steps] == [[s] for s in steps]
    assert tracker.track(cache) == [] and tracker.track(steps[0]) == []  # the rerun's repeats
    assert tracker.track(end) == [end]
    job = tracker.get("a")
    assert job is not None and job.terminal == end and job.replayable
    holey = JobTracker()
    for event in (created, steps[0], end):  # step 2 missing: the read model must serve it
        holey.track(event)
    job = holey.get("a")
    assert job is not None and not job.replayable


def test_a_terminal_event_releases_what_is_held_and_the_read_model_fills_gaps() -> None:
    tracker = JobTracker()
    created, cache, end = story("a")
    assert tracker.track(cache) == []
    assert tracker.track(end) == [cache, end]  # nothing more will come: out, in order
    job = tracker.get("a")
    assert job is not None and not job.replayable  # step 1 is missing here
    assert tracker.track(created) == []  # too late to be news
    created_b, cache_b, end_b = story("b")
    assert tracker.track(end_b) == [end_b]
    tracker2 = JobTracker()
    assert tracker2.track(cache_b) == []
    # A subscriber got steps 1..2 from the read model: 2 is not news, what is above goes out.
    assert tracker2.release_to("b", 2) == []
    assert tracker2.track(cache_b) == []
    assert tracker2.track(end_b) == [end_b]


def test_the_tracker_evicts_finished_jobs_by_age_and_count_before_running_ones() -> None:
    now = [0.0]
    tracker = JobTracker(max_active=3, max_finished=2, active_ttl=100, finished_ttl=10, clock=lambda: now[0])
    for name in ("a", "b", "c"):
        for event in story(name):
            tracker.track(event)
    assert tracker.get("a") is None and tracker.get("b") and tracker.get("c")  # count: 2 finished
    running = story("r")[:2]
    for event in running:
        tracker.track(event)
    now[0] = 11.0
    tracker.evict()
    assert tracker.get("b") is None and tracker.get("c") is None  # finished, past 10 s
    assert tracker.get("r") is not None  # running: kept for 100 s
    now[0] = 200.0
    assert tracker.evict() == 1 and len(tracker) == 0


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
