"""Create the public topics (and their DLQs) before anything subscribes to them."""

from __future__ import annotations

import logging
from collections.abc import Iterable

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from streams import kafka
from streams.topics import ALL_TOPICS, TopicNames, dlq_name

log = logging.getLogger(__name__)


def deployment_topics(names: TopicNames) -> list[str]:
    out: list[str] = []
    for public in ALL_TOPICS:
        out += [names.name(public), dlq_name(names.name(public))]
    return out


async def ensure_topics(
    bootstrap_servers: str,
    topics: Iterable[str],
    *,
    partitions: int = 1,
    replication_factor: int = 1,
    wait_seconds: float = 30.0,
) -> None:
    """Idempotent; waits up to `wait_seconds` for a broker that is coming up, then raises
    UnavailableError."""
    wanted = list(dict.fromkeys(topics))
    admin = await kafka.start(
        lambda: AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, request_timeout_ms=10000),
        bootstrap_servers,
        wait_seconds,
    )
    try:
        async with kafka.kafka_errors("create topics", bootstrap_servers):
            existing = set(await admin.list_topics())
            missing = [t for t in wanted if t not in existing]
            if not missing:
                return
            try:
                await admin.create_topics([NewTopic(t, partitions, replication_factor) for t in missing])
            except TopicAlreadyExistsError:
                pass  # another process created them first
            log.info("created topics %s", ",".join(missing))
    finally:
        await admin.close()
