"""Example consumer of streamproc topics — copy it into your service.

It needs only aiokafka. It reads the JSON envelope, handles the versions it knows, upgrades the
old ones it can, and skips (with a log line) what it does not understand: a newer version or a
type added later must never crash a consumer.

    pip install aiokafka
    python consumer.py --bootstrap localhost:9092 --topic netflix.job-events --group my-service
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
from typing import Any

from aiokafka import AIOKafkaConsumer

log = logging.getLogger("example-consumer")

# The (type, version) pairs this consumer was written against: see docs/events.md.
KNOWN: dict[str, int] = {
    "job.created": 1,
    "job.progress": 2,
    "job.completed": 1,
    "job.failed": 1,
    "title.scraped": 1,
    "participant.joined": 1,
    "stream.ended": 1,
}


def upgrade(event_type: str, version: int, data: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """Lift old payloads the way the producer's upcasters do (job.progress v1 -> v2)."""
    if event_type == "job.progress" and version == 1:
        code = data.get("step", "")
        data = {**data, "stepCode": code, "step": code.replace("_", " ").capitalize()}
        version = 2
    return version, data


def handle(envelope: dict[str, Any]) -> dict[str, Any] | None:
    """Return the event to act on, or None when it is not for us."""
    event_type, version = envelope.get("type"), envelope.get("version")
    if not isinstance(event_type, str) or not isinstance(version, int):
        log.warning("not an envelope: %r", envelope)
        return None
    if event_type not in KNOWN:
        return None  # a type we don't use
    version, data = upgrade(event_type, version, envelope.get("data") or {})
    if version > KNOWN[event_type]:
        log.warning(
            "skipping %s v%d (newer than v%d): upgrade this consumer", event_type, version, KNOWN[event_type]
        )
        return None
    return {
        "type": event_type,
        "version": version,
        "key": envelope.get("key"),
        "occurredAt": envelope.get("occurredAt"),
        "data": data,
    }


async def consume(bootstrap: str, topic: str, group: str | None, limit: int | None) -> int:
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=group,
        auto_offset_reset="earliest",
        enable_auto_commit=group is not None,
    )
    await consumer.start()
    seen = 0
    try:
        while limit is None or seen < limit:
            batch = await consumer.getmany(timeout_ms=2000)
            if not batch and limit is not None:
                break
            for records in batch.values():
                for record in records:
                    try:
                        envelope = json.loads(record.value)
                    except (TypeError, ValueError):
                        log.warning(
                            "undecodable record at %s[%d]@%d", record.topic, record.partition, record.offset
                        )
                        continue
                    event = handle(envelope)
                    if event is not None:
                        print(json.dumps(event, ensure_ascii=False), flush=True)
                        seen += 1
    finally:
        await consumer.stop()
    return seen


def main() -> None:
    logging.basicConfig(level=logging.INFO)
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--bootstrap", default="localhost:9092")
    parser.add_argument("--topic", default="netflix.job-events")
    parser.add_argument("--group", default=None, help="consumer group (omit: read without committing)")
    parser.add_argument("--limit", type=int, default=None, help="stop after N events (and when idle)")
    args = parser.parse_args()
    asyncio.run(consume(args.bootstrap, args.topic, args.group, args.limit))


if __name__ == "__main__":
    main()
