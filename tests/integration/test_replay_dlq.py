"""`dlq list` / `dlq redrive`: a worker dead-letters an invalid record, the list shows it, a fixed
value is redriven and processed, a second redrive sends nothing; an as-is redrive keeps the
record's bytes and headers and adds `x-redriven-from`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from projections.queries import get_job
from projections.replay.reader import TopicReader
from projections.store import MongoStore
from streams.events import encode
from streams.settings import Settings
from streams.topics import TopicNames
from tests.integration.replay_cli import cli, job_story, produce
from tests.support import eventually, start_worker

# The listing and the redrives name records by partition 0's offsets.
pytestmark = [pytest.mark.integration, pytest.mark.single_partition]


async def end_offset(settings: Settings, topic: str) -> int:
    async with TopicReader(settings.kafka_bootstrap_servers) as reader:
        return sum((await reader.end_offsets(topic)).values())


async def read_all(settings: Settings, topic: str, count: int) -> list:
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=settings.kafka_bootstrap_servers,
        group_id=None,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    records: list = []
    try:

        async def enough() -> bool:
            for batch in (await consumer.getmany(timeout_ms=300)).values():
                records.extend(batch)
            return len(records) >= count

        await eventually(enough, timeout=30, what=f"{count} records of {topic}")
    finally:
        await consumer.stop()
    return records


async def test_redrive_a_fixed_record_once(
    settings: Settings, topics: TopicNames, store: MongoStore, log_dir: Path, tmp_path: Path
) -> None:
    created = job_story("job-fix")[0]
    broken = json.loads(encode(created))
    del broken["data"]["url"]  # fails the payload schema: INVALID_EVENT
    unknown = {**json.loads(encode(job_story("job-other")[0])), "type": "job.exploded"}
    worker = await start_worker(settings, log_dir)
    try:
        await produce(
            settings.kafka_bootstrap_servers,
            topics.job_events,
            [
                (b"job-fix", json.dumps(broken).encode()),
                (b"job-other", json.dumps(unknown).encode()),
            ],
        )
        dlq = topics.dlq(topics.job_events.removeprefix(settings.topic_prefix))

        async def listed() -> str | None:
            result = await cli(settings, "dlq", "list", "--topic", "netflix.job-events")
            assert result.code == 0, result.err
            return result.out if "2 dead-lettered records" in result.out else None

        listing = await eventually(listed, timeout=60, what="two dead letters in the list")
        lines = listing.splitlines()
        assert lines[0] == f"{dlq}: 2 dead-lettered records, 0 redriven"
        first = lines[2].split("\t")
        assert first[:4] == ["0", "0", "job-fix", "INVALID_EVENT"]
        assert "url" in first[4]
        assert first[5] == f"{topics.job_events}[0]@0" and first[6] == "pending"
        assert lines[3].split("\t")[3] == "UNKNOWN_EVENT"

        fixed = tmp_path / "fixed.json"
        fixed.write_bytes(encode(created))
        before = await end_offset(settings, topics.job_events)
        redrive = await cli(
            settings,
            "dlq",
            "redrive",
            "--topic",
            "netflix.job-events",
            "--offset",
            "0",
            "--value-file",
            str(fixed),
        )
        assert redrive.code == 0, redrive.err
        assert f"redrove [0]@0 -> {topics.job_events}[0]@{before} with the value of" in redrive.out
        doc = await eventually(
            lambda: get_job(store, "job-fix"),
            timeout=60,
            what="the fixed record processed by the worker",
        )
        assert doc["url"] == created.data.url  # type: ignore[attr-defined]

        # The same redrive again, and a redrive of that offset as-is: nothing is sent.
        for args in (("--offset", "0", "--value-file", str(fixed)), ("--offset", "0")):
            again = await cli(settings, "dlq", "redrive", "--topic", "netflix.job-events", *args)
            assert again.code == 0, again.err
            assert "already redriven: [0]@0" in again.out and "nothing to redrive" in again.out
        assert await end_offset(settings, topics.job_events) == before + 1

        # As-is: the original bytes and headers, plus x-redriven-from; it fails again, and its
        # new dead letter carries the header along.
        as_is = await cli(settings, "dlq", "redrive", "--topic", f"{dlq}", "--offset", "0:1")
        assert as_is.code == 0, as_is.err
        records = await read_all(settings, topics.job_events, before + 2)
        redriven = records[before + 1]
        assert redriven.value == json.dumps(unknown).encode() and redriven.key == b"job-other"
        headers = dict(redriven.headers)
        assert headers["x-redriven-from"] == f"{dlq}:0:1".encode()
        assert headers["x-error-code"] == b"UNKNOWN_EVENT"  # the others are kept
        letters = await read_all(settings, dlq, 3)
        assert dict(letters[2].headers)["x-redriven-from"] == f"{dlq}:0:1".encode()
        final = await cli(settings, "dlq", "list", "--topic", dlq)
        assert "3 dead-lettered records, 2 redriven" in final.out
        # The markers outlive the dead letters they mark (else one could be redriven twice).
        admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap_servers)
        await admin.start()
        try:
            (response,) = await admin.describe_configs(
                [ConfigResource(ConfigResourceType.TOPIC, f"{dlq}.redriven")]
            )
            entries = {entry[0]: entry[1] for entry in response.resources[0][4]}
        finally:
            await admin.close()
        assert entries["retention.ms"] == "-1"
    finally:
        worker.stop()
