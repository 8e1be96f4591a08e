"""The whole chain on the real broker and database: aiokafka -> Kafka -> Faust agent -> MongoDB,
and a poison record dead-lettered while the next good record is still processed."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from projections.store import MongoStore
from streams.events import encode, new_event
from streams.events.netflix import JobCreated, JobProgress, JobStatus, JobStep
from streams.settings import Settings
from streams.topics import TopicNames, dlq_name
from tests.support import ServiceProcess, eventually, start_worker

pytestmark = [pytest.mark.integration, pytest.mark.both_mongo_servers]


@pytest.fixture
async def worker(settings: Settings, topics: TopicNames, log_dir: Path) -> AsyncIterator[ServiceProcess]:
    proc = await start_worker(settings, log_dir)
    yield proc
    assert proc.stop() is not None


@pytest.fixture
async def producer(settings: Settings) -> AsyncIterator[AIOKafkaProducer]:
    p = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap_servers, acks="all")
    await p.start()
    yield p
    await p.stop()


def _created(job_id: str) -> bytes:
    return encode(
        new_event(
            JobCreated(
                job_id=job_id,
                url="https://www.netflix.com/tr/title/81616256",
                country="tr",
                title_id="81616256",
            ),
            key=job_id,
            sequence=1,
        )
    )


def _progress(job_id: str, seq: int, step: JobStep, progress: int) -> bytes:
    return encode(
        new_event(
            JobProgress(
                job_id=job_id,
                progress=progress,
                status=JobStatus.PROCESSING,
                step="Checking cache",
                step_code=step,
            ),
            key=job_id,
            sequence=seq,
        )
    )


async def test_event_reaches_mongodb_through_a_faust_agent(
    worker: ServiceProcess, producer: AIOKafkaProducer, topics: TopicNames, store: MongoStore
) -> None:
    await producer.send_and_wait(topics.job_events, _created("job-1"), key=b"job-1")
    sent = await producer.send_and_wait(
        topics.job_events, _progress("job-1", 2, JobStep.CHECKING_CACHE, 10), key=b"job-1"
    )

    async def stored() -> dict | None:
        doc = await (await store.jobs()).find_one({"_id": "job-1"})
        return doc if doc and doc["sequence"] == 2 else None

    doc = await eventually(stored, timeout=60, what="job document with both events")
    assert doc["status"] == "processing"
    assert doc["progress"] == 10
    assert doc["stepCode"] == "checking_cache"
    assert doc["url"] == "https://www.netflix.com/tr/title/81616256"
    assert [s["stepCode"] for s in doc["steps"]] == ["created", "checking_cache"]
    # The key's partition of the topic's several: both events are on it, the second at offset 1.
    assert doc["position"] == {"topic": topics.job_events, "partition": sent.partition, "offset": 1}


async def test_poison_records_go_to_the_dlq_and_the_next_record_is_processed(
    worker: ServiceProcess,
    producer: AIOKafkaProducer,
    topics: TopicNames,
    store: MongoStore,
    settings: Settings,
) -> None:
    unknown_type = json.dumps(
        {
            "id": "e1",
            "type": "job.exploded",
            "version": 1,
            "key": "job-2",
            "occurredAt": "2026-01-01T00:00:00.000Z",
            "data": {},
        }
    ).encode()
    bad_payload = json.loads(_created("job-2"))
    del bad_payload["data"]["url"]
    await producer.send_and_wait(
        topics.job_events, b"\x00not json{", key=b"job-2", headers=[("trace", b"abc")]
    )
    await producer.send_and_wait(topics.job_events, unknown_type, key=b"job-2")
    await producer.send_and_wait(topics.job_events, json.dumps(bad_payload).encode(), key=b"job-2")
    await producer.send_and_wait(topics.job_events, _created("job-2"), key=b"job-2")

    jobs = await store.jobs()
    doc = await eventually(
        lambda: jobs.find_one({"_id": "job-2"}),
        timeout=60,
        what="the good record after the poison ones",
    )
    assert doc["status"] == "pending"

    consumer = AIOKafkaConsumer(
        dlq_name(topics.job_events),
        bootstrap_servers=settings.kafka_bootstrap_servers,
        auto_offset_reset="earliest",
        group_id=None,
    )
    await consumer.start()
    try:
        records = []

        async def three() -> bool:
            batch = await consumer.getmany(timeout_ms=500)
            for recs in batch.values():
                records.extend(recs)
            return len(records) >= 3

        await eventually(three, timeout=30, what="three dead letters")
    finally:
        await consumer.stop()
    assert [r.value for r in records][0] == b"\x00not json{"
    headers = [dict(r.headers) for r in records]
    assert [h["x-error-code"] for h in headers] == [b"DECODE_ERROR", b"UNKNOWN_EVENT", b"INVALID_EVENT"]
    assert headers[0]["trace"] == b"abc"  # the original headers travel with the record
    assert headers[0]["x-original-topic"] == topics.job_events.encode()
    assert [h["x-original-offset"] for h in headers] == [b"0", b"1", b"2"]
    assert b"url" in headers[2]["x-error-message"]
    assert all(r.key == b"job-2" for r in records)
