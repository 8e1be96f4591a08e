"""`rebuild`: after live traffic through a real worker the rebuilt jobs read model equals the live
one, the alias switches reads (and the worker's writes) to it, a tampered document is reported;
`--until` builds the state at a past time or offset without switching anything."""

from __future__ import annotations

import asyncio
import json
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from projections import aliases
from projections import jobs as jobs_model
from projections.queries import get_job
from projections.store import Doc, MongoStore
from streams.events import Envelope, format_time
from streams.events.netflix import JobProgress, JobStatus, JobStep
from streams.settings import Settings
from streams.topics import TopicNames
from tests.integration.replay_cli import Sent, cli, documents, job_story, produce, wire
from tests.support import eventually, start_worker

pytestmark = [pytest.mark.integration, pytest.mark.both_mongo_servers]


def v1_progress(job_id: str, seq: int) -> tuple[bytes, bytes]:
    """An old writer's job.progress v1 (the step code in `step`)."""
    return job_id.encode(), json.dumps(
        {
            "id": f"v1-{job_id}-{seq}",
            "type": "job.progress",
            "version": 1,
            "key": job_id,
            "occurredAt": "2026-05-01T12:00:00.000Z",
            "sequence": seq,
            "data": {
                "jobId": job_id,
                "progress": 90,
                "status": "processing",
                "step": "saving_to_database",
            },
        }
    ).encode()


async def all_projected(store: MongoStore, final: dict[str, int]) -> bool:
    docs = {d["_id"]: d async for d in (await store.jobs()).find({})}
    return all(job in docs and docs[job]["sequence"] == seq for job, seq in final.items())


async def test_rebuild_jobs_verifies_switches_and_reports_a_tampered_document(
    settings: Settings, topics: TopicNames, store: MongoStore, log_dir: Path
) -> None:
    worker = await start_worker(settings, log_dir)
    try:
        events = [e for i in range(12) for e in job_story(f"job-{i}", fail=i % 4 == 3, steps=2 + i % 4)]
        records = wire(events) + [v1_progress("job-0", 9), (b"job-x", b"not json")]
        sent = await produce(settings.kafka_bootstrap_servers, topics.job_events, records)
        final = {
            f"job-{i}": max(e.sequence or 0 for e in events if e.key == f"job-{i}") for i in range(12)
        } | {"job-0": 9}
        await eventually(lambda: all_projected(store, final), timeout=60, what="live projection")

        result = await cli(settings, "rebuild", "jobs", "--verify")
        assert result.code == 0, result.out + result.err
        assert "12 documents, no differences" in result.out
        assert "skipped 1 that do not decode" in result.out
        assert "kept old collection jobs " in result.out
        alias = await aliases.current(store, "jobs")
        assert re.fullmatch(r"jobs__v\d{14}", alias.collection)
        # Each partition's end: the jobs spread over every partition by their key.
        ends = {str(p): sum(s.partition == p for s in sent) for p in range(settings.topic_partitions)}
        assert len([n for n in ends.values() if n]) > 1
        assert alias.source_offsets == ends
        # Reads go to the new collection, which holds what the worker had written.
        before = await documents(store, "jobs")
        assert await documents(store, alias.collection) == before
        for job in final:
            assert await get_job(store, job) == before[job]
        assert (await get_job(store, "job-0"))["stepCode"] == "saving_to_database"  # the v1 step

        # The live worker follows the alias: a new step lands in the new collection only.
        late = Envelope(
            id="late-1",
            type="job.progress",
            version=2,
            key="job-1",
            sequence=20,
            occurred_at=before["job-1"]["updatedAt"],
            data=JobProgress(
                job_id="job-1",
                progress=99,
                status=JobStatus.PROCESSING,
                step="Almost",
                step_code=JobStep.SAVING_TO_DATABASE,
            ),
        )
        await produce(settings.kafka_bootstrap_servers, topics.job_events, wire([late]))

        async def late_step() -> bool:
            doc = await get_job(store, "job-1")
            return doc is not None and doc["sequence"] == 20

        await eventually(late_step, timeout=30, what="the late step through the alias")
        assert (await documents(store, "jobs"))["job-1"]["sequence"] != 20

        # Tamper with one live document: --verify reports it, exit 1; the switch repairs it.
        await (await store.jobs()).update_one({"_id": "job-3"}, {"$set": {"status": "tampered"}})
        second = await cli(settings, "rebuild", "jobs", "--verify", "--drop-old")
        assert second.code == 1, second.out + second.err
        assert "1 differences (1 changed, 0 only in live, 0 only in rebuilt)" in second.out
        assert "changed 'job-3': status: live='tampered' rebuilt='failed'" in second.out
        assert f"dropped old collection {alias.collection}" in second.out
        assert (await get_job(store, "job-3"))["status"] == "failed"
        assert (await get_job(store, "job-1"))["sequence"] == 20
        newer = await aliases.current(store, "jobs")
        assert newer.collection != alias.collection and newer.previous == alias.collection
        assert alias.collection not in await store.db.list_collection_names()
    finally:
        worker.stop()


def fold(events: list[Envelope], sent: list[Sent], topic: str) -> dict[str, Doc]:
    """The jobs model of these events by the pure fold, with the position the worker records."""
    docs: dict[str, Doc] = {}
    for event, where in zip(events, sent, strict=True):
        key = jobs_model.doc_id(event)
        assert key is not None
        state = docs.get(key)
        new = jobs_model.apply(state, event)
        if new is not None and new != state:
            docs[key] = {
                **new,
                "_id": key,
                "position": {"topic": topic, "partition": where.partition, "offset": where.offset},
            }
    return docs


@pytest.mark.single_partition  # `offset:N` cuts every partition at N: one partition keeps it simple
async def test_rebuild_until_a_time_or_offset_builds_the_past_state(
    settings: Settings, topics: TopicNames, store: MongoStore
) -> None:
    first = [e for i in range(4) for e in job_story(f"job-{i}", steps=3)[:2]]
    sent_first = await produce(settings.kafka_bootstrap_servers, topics.job_events, wire(first))
    await asyncio.sleep(0.02)
    cut = format_time(datetime.now(UTC))
    await asyncio.sleep(0.02)
    later = [e for i in range(4) for e in job_story(f"job-{i}", steps=3)[2:]]
    later += job_story("job-9")
    await produce(settings.kafka_bootstrap_servers, topics.job_events, wire(later))

    result = await cli(settings, "rebuild", "jobs", "--until", cut, "--into", "jobs_then")
    assert result.code == 0, result.out + result.err
    assert "no alias switched" in result.out
    expected = fold(first, sent_first, topics.job_events)
    assert await documents(store, "jobs_then") == expected
    assert all(doc["status"] == "processing" for doc in expected.values())
    assert (await aliases.current(store, "jobs")).collection == "jobs"  # nothing switched

    by_offset = await cli(settings, "rebuild", "jobs", "--until", f"offset:{len(first)}")
    assert by_offset.code == 0, by_offset.out + by_offset.err
    assert await documents(store, f"jobs__at_offset{len(first)}") == expected
    # a second build into the same name is refused rather than mixed into it
    again = await cli(settings, "rebuild", "jobs", "--until", cut, "--into", "jobs_then")
    assert again.code == 2 and "already exists" in again.err
