"""A rebuild's batched fold writes exactly what the worker's per-event fold writes."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from projections import jobs
from projections.fold import DocumentFold
from projections.store import MongoStore
from streams.events import new_event
from streams.events.netflix import JobCompleted, JobCreated, JobProgress, JobStatus, JobStep, TitleData
from streams.pipeline import RecordMeta

pytestmark = pytest.mark.integration
T0 = datetime(2026, 5, 1, tzinfo=UTC)


def job_log(n_jobs: int) -> list:
    rng = random.Random(3)
    events = []
    for j in range(n_jobs):
        jid = f"job-{j}"
        events.append(
            new_event(
                JobCreated(job_id=jid, url="u", country="tr", title_id=str(j)),
                key=jid,
                sequence=1,
                clock=lambda: T0,
            )
        )
        for seq, (step, p) in enumerate([(JobStep.CHECKING_CACHE, 10), (JobStep.CHECKING_DATABASE, 30)], 2):
            events.append(
                new_event(
                    JobProgress(
                        job_id=jid, progress=p, status=JobStatus.PROCESSING, step=step.value, step_code=step
                    ),
                    key=jid,
                    sequence=seq,
                    clock=lambda s=seq: T0 + timedelta(seconds=s),
                )
            )
        events.append(
            new_event(
                JobCompleted(
                    job_id=jid,
                    source="database",
                    data=TitleData(title=f"T{j}", title_id=str(j), country="tr", url="u"),
                ),
                key=jid,
                sequence=4,
                clock=lambda: T0 + timedelta(seconds=9),
            )
        )
    # interleave jobs (as many producers would) but keep each job's order, and repeat some events
    rng.shuffle(events)
    events.sort(key=lambda e: e.sequence)
    return events + events[: len(events) // 5]


@pytest.mark.parametrize("max_cached", [100_000, 7])  # 7: most reads miss the cache
async def test_batched_fold_equals_per_event_fold(store: MongoStore, max_cached: int) -> None:
    events = job_log(40)
    plain = DocumentFold(lambda: store.collection("plain"), jobs.doc_id, jobs.apply)
    batched = DocumentFold(lambda: store.collection("batched"), jobs.doc_id, jobs.apply).batched()
    batched.max_cached = max_cached
    for offset, event in enumerate(events):
        meta = RecordMeta(topic="t", partition=0, offset=offset, key=event.key.encode())
        await plain(event, meta)
        await batched(event, meta)
        if offset % 23 == 0:
            await batched.flush()
    await batched.finish()
    a = [d async for d in store.collection("plain").find({}).sort("_id")]
    b = [d async for d in store.collection("batched").find({}).sort("_id")]
    assert len(a) == 40
    assert a == b
