"""Create the public topics (and their DLQs) before anything subscribes to them."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaConnectionError, KafkaError, TopicAlreadyExistsError

from streams.errors import UnavailableError
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
    attempts: int = 10,
) -> None:
    """Idempotent; retries while the broker comes up, then raises UnavailableError."""
    wanted = list(dict.fromkeys(topics))
    delay = 0.25
    for attempt in range(1, attempts + 1):
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, request_timeout_ms=10000)
        try:
            await admin.start()
            existing = set(await admin.list_topics())
            missing = [t for t in wanted if t not in existing]
            if missing:
                try:
                    await admin.create_topics(
                        [NewTopic(t, partitions, replication_factor) for t in missing]
                    )
                except TopicAlreadyExistsError:
                    pass  # another process created them first
                log.info("created topics %s", ",".join(missing))
            return
        except (KafkaConnectionError, KafkaError, OSError) as exc:
            if attempt == attempts:
                raise UnavailableError(f"Kafka at {bootstrap_servers} is unreachable: {exc}") from exc
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)
        finally:
            await admin.close()
