"""docs/examples/consumer.py, as another service would run it, against the real broker."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer

from streams.settings import Settings
from streams.topics import TopicNames

pytestmark = pytest.mark.integration
EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "examples" / "consumer.py"
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "events"


async def test_example_consumer_decodes_upgrades_and_skips(settings: Settings, topics: TopicNames) -> None:
    v1 = json.loads((FIXTURES / "job.progress.v1.json").read_text())
    future = {**json.loads((FIXTURES / "job.created.v1.json").read_text()), "version": 9}
    unknown = {**v1, "type": "job.renamed", "version": 1}
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap_servers)
    await producer.start()
    try:
        for record in (v1, future, unknown):
            await producer.send_and_wait(topics.job_events, json.dumps(record).encode(), key=b"k")
        await producer.send_and_wait(topics.job_events, b"not json", key=b"k")
        await producer.send_and_wait(
            topics.job_events, (FIXTURES / "job.completed.v1.json").read_bytes(), key=b"k"
        )
    finally:
        await producer.stop()
    out = await asyncio.to_thread(
        subprocess.run,
        [
            sys.executable,
            str(EXAMPLE),
            "--bootstrap",
            settings.kafka_bootstrap_servers,
            "--topic",
            topics.job_events,
            "--limit",
            "2",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    events = [json.loads(line) for line in out.stdout.splitlines()]
    assert [(e["type"], e["version"]) for e in events] == [("job.progress", 2), ("job.completed", 1)]
    assert events[0]["data"]["stepCode"] == "scraping_netflix"
    assert "newer than v1" in out.stderr  # the v9 record was skipped with a reason
