"""Create the public topics (and their DLQs), with their settings, before anything subscribes."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable, Mapping

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import InvalidReplicationFactorError, TopicAlreadyExistsError, for_code

from streams import kafka
from streams.errors import UnavailableError
from streams.settings import Settings, SettingsError
from streams.topics import ALL_TOPICS, TopicNames, dlq_name, min_insync_replicas, topic_configs

log = logging.getLogger(__name__)

DEFAULT_JOB_EVENTS_RETENTION_HOURS = Settings().job_events_retention_hours


def deployment_topics(
    names: TopicNames, *, job_events_retention_hours: int = DEFAULT_JOB_EVENTS_RETENTION_HOURS
) -> dict[str, dict[str, str]]:
    """Every topic of one deployment (public topics and their DLQs, prefixed) -> its configs."""
    out: dict[str, dict[str, str]] = {}
    for public in ALL_TOPICS:
        for topic in (public, dlq_name(public)):
            configs = topic_configs(topic, job_events_retention_hours=job_events_retention_hours)
            out[names.name(topic)] = configs
    return out


async def ensure_deployment_topics(settings: Settings, *, wait_seconds: float = 30.0) -> None:
    """What the worker and the gateway run at start: every topic of their deployment, with the
    partitions, replicas and retention `settings` give."""
    names = TopicNames(settings.topic_prefix)
    await ensure_topics(
        settings.kafka_bootstrap_servers,
        deployment_topics(names, job_events_retention_hours=settings.job_events_retention_hours),
        partitions=settings.topic_partitions,
        replication_factor=settings.topic_replication_factor,
        wait_seconds=wait_seconds,
    )


async def ensure_topics(
    bootstrap_servers: str,
    topics: Iterable[str] | Mapping[str, Mapping[str, str]],
    *,
    partitions: int = 1,
    replication_factor: int = 1,
    wait_seconds: float = 30.0,
) -> None:
    """Create those of `topics` that do not exist, with `replication_factor` replicas,
    `min.insync.replicas` = min(2, RF) and each topic's own configs (when `topics` maps names to
    them, as `deployment_topics` does).

    Idempotent. A topic that exists is left as it is, whatever its settings (logged): changing a
    live deployment's topics is an operator's decision, not a side effect of starting a process.
    min.insync.replicas is always set, also to 1: a broker default of 2 (as on the devstack
    cluster) would refuse every acks=all write to a topic with one replica.
    Waits up to `wait_seconds` for a broker that is coming up, then raises UnavailableError; a
    replication factor above the number of brokers is a SettingsError.
    """
    configs = dict(topics) if isinstance(topics, Mapping) else dict.fromkeys(topics, {})
    admin = await kafka.start(
        lambda: AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, request_timeout_ms=10000),
        bootstrap_servers,
        wait_seconds,
    )
    try:
        async with kafka.kafka_errors("create topics", bootstrap_servers):
            existing = set(await admin.list_topics())
            present = [t for t in configs if t in existing]
            if present:
                log.info("topics exist, left with the settings they have: %s", ",".join(present))
            missing = [t for t in configs if t not in existing]
            if not missing:
                return
            in_sync = {"min.insync.replicas": str(min_insync_replicas(replication_factor))}
            new = [
                NewTopic(t, partitions, replication_factor, topic_configs={**configs[t], **in_sync})
                for t in missing
            ]
            response = await admin.create_topics(new)
            _raise_topic_errors(response, replication_factor, bootstrap_servers)
            await _wait_until_known(admin, missing, wait_seconds)
            log.info(
                "created topics %s partitions=%d replication_factor=%d",
                ",".join(missing),
                partitions,
                replication_factor,
            )
    finally:
        await admin.close()


async def _wait_until_known(admin: AIOKafkaAdminClient, topics: list[str], wait_seconds: float) -> None:
    """Return once the metadata shows `topics` with a leader for every partition.

    The controller answers CreateTopics once it has recorded them; on a cluster the other
    brokers learn of them a moment later, and a consumer that subscribes in between gets no
    partitions (Faust subscribes before it declares)."""
    deadline = time.monotonic() + wait_seconds
    while True:
        described = await admin.describe_topics(topics)
        pending = [
            t["topic"]
            for t in described
            if t["error_code"] or not t["partitions"] or any(p["leader"] < 0 for p in t["partitions"])
        ]
        if not pending:
            return
        if time.monotonic() > deadline:
            raise UnavailableError(f"topics created but still unknown to the brokers: {','.join(pending)}")
        await asyncio.sleep(0.1)


def _raise_topic_errors(response: object, replication_factor: int, bootstrap: str) -> None:
    """CreateTopics answers per topic and aiokafka raises for none of them: a topic another
    process created meanwhile is fine, anything else is raised as our error."""
    for entry in getattr(response, "topic_errors", ()):
        topic, code = entry[0], entry[1]
        message = entry[2] if len(entry) > 2 and entry[2] else ""
        error = for_code(code) if code else None
        if error is None or error is TopicAlreadyExistsError:
            continue
        if error is InvalidReplicationFactorError:
            raise SettingsError(
                f"TOPIC_REPLICATION_FACTOR={replication_factor} cannot be used on Kafka at {bootstrap}: "
                f"{message or 'more replicas than brokers'}"
            )
        raise error(f"create topic {topic}: {message}")
