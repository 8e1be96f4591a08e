"""The devstack three-broker KRaft cluster, and the project's topics made on it as the worker and
the gateway make them: three replicas, two in sync, their retention and compaction.

Marked `cluster`: the module starts its own three Kafka nodes and a database (8-25 s on two
cores, once) and runs a worker on them, so it is slower than an ordinary integration test.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import KafkaError

import devstack
from devstack import procs
from streams.admin import ensure_deployment_topics, ensure_topics
from streams.settings import Settings, SettingsError
from streams.topics import ALL_TOPICS, LIVESTREAM_EVENTS, TITLES, TopicNames
from tests.support import eventually, isolated_settings, start_worker

pytestmark = [pytest.mark.integration, pytest.mark.cluster]

HOUR_MS = 3600 * 1000


@pytest.fixture(scope="module")
def cluster() -> Iterator[devstack.Services]:
    """Three local Kafka nodes (and the local database) from `provide_services`, as
    `DEVSTACK_KAFKA_BROKERS=3 make run` gets them. The environment is only changed while they
    start: session fixtures set up later must not see it."""
    with contextlib.ExitStack() as stack:
        with pytest.MonkeyPatch.context() as env:
            env.delenv("KAFKA_BOOTSTRAP_SERVERS", raising=False)
            env.delenv("MONGODB_URI", raising=False)
            env.setenv("DEVSTACK_BACKEND", "local")
            env.setenv("DEVSTACK_KAFKA_BROKERS", "3")
            try:
                services = stack.enter_context(devstack.provide_services())
            except devstack.DevstackError as exc:
                pytest.fail(f"no local Kafka cluster: {exc}", pytrace=False)
        yield services


@pytest.fixture
def settings(cluster: devstack.Services) -> Settings:
    """A worker's settings from the environment devstack hands its children, own topic prefix."""
    return Settings.from_env({**cluster.env(), "TOPIC_PREFIX": f"c{uuid.uuid4().hex[:8]}."})


@pytest.fixture
async def admin(cluster: devstack.Services) -> AsyncIterator[AIOKafkaAdminClient]:
    client = AIOKafkaAdminClient(bootstrap_servers=cluster.kafka_bootstrap_servers)
    await client.start()
    yield client
    await client.close()


async def topic_configs(admin: AIOKafkaAdminClient, names: list[str]) -> dict[str, dict[str, str]]:
    """Each topic's configs, once the broker asked answers for all of them without an error."""
    resources = [ConfigResource(ConfigResourceType.TOPIC, name) for name in names]

    async def answered() -> dict[str, dict[str, str]]:
        out: dict[str, dict[str, str]] = {}
        try:
            responses = await admin.describe_configs(resources)
        except KafkaError:
            return {}  # the node asked is away (stopped, or not yet up to date): ask again
        for response in responses:
            for code, _message, _type, name, entries in response.resources:
                if code != 0:
                    return {}
                out[name] = {entry[0]: entry[1] for entry in entries}
        return out if set(out) == set(names) else {}

    return await eventually(answered, timeout=15, what=f"configs of {names}")


async def describe(admin: AIOKafkaAdminClient, names: list[str]) -> dict[str, Any]:
    """Each topic's metadata, once the broker asked knows all of them (brokers learn of a new
    topic from the controller a moment apart; the admin client asks a random known node, which
    may be the one a test stopped)."""

    async def known() -> dict[str, Any]:
        try:
            found = {topic["topic"]: topic for topic in await admin.describe_topics(names)}
        except KafkaError:
            return {}
        return found if all(topic["error_code"] == 0 for topic in found.values()) else {}

    return await eventually(known, timeout=15, what=f"metadata of {names}")


def test_the_cluster_lists_three_brokers(cluster: devstack.Services) -> None:
    assert len(cluster.kafka_bootstrap_servers.split(",")) == 3
    assert cluster.kafka_brokers == 3 and cluster.origin["kafka"] == "local"
    assert cluster.env()["TOPIC_REPLICATION_FACTOR"] == "3"
    assert sorted(p.name for p in procs.running() if p.name.startswith("kafka-")) == [
        "kafka-1",
        "kafka-2",
        "kafka-3",
    ]


async def test_project_topics_get_three_replicas_and_their_settings(
    settings: Settings, admin: AIOKafkaAdminClient
) -> None:
    assert settings.topic_replication_factor == 3
    names = TopicNames(settings.topic_prefix)
    # a deployment that already has one of its topics: left as it is, not "fixed"
    await ensure_topics(settings.kafka_bootstrap_servers, [names.livestream_events], replication_factor=1)

    await ensure_deployment_topics(settings)  # what the worker and the gateway run at start

    created = [names.name(t) for t in ALL_TOPICS if t != LIVESTREAM_EVENTS]
    created += [names.dlq(t) for t in ALL_TOPICS]
    topics = await describe(admin, [*created, names.livestream_events])
    for name in created:
        assert topics[name]["error_code"] == 0, name
        for partition in topics[name]["partitions"]:
            assert len(partition["replicas"]) == 3, name
            assert len(partition["isr"]) == 3, name
    assert [len(p["replicas"]) for p in topics[names.livestream_events]["partitions"]] == [1]

    configs = await topic_configs(admin, [*created, names.livestream_events])
    for name in created:
        assert configs[name]["min.insync.replicas"] == "2", name
    assert configs[names.titles]["cleanup.policy"] == "compact"
    assert configs[names.job_events]["cleanup.policy"] == "delete"
    assert configs[names.job_events]["retention.ms"] == str(168 * HOUR_MS)
    assert configs[names.scrape_requests]["retention.ms"] == str(168 * HOUR_MS)
    assert configs[names.dlq(TITLES)]["retention.ms"] == str(30 * 24 * HOUR_MS)
    # the pre-existing topic kept what it had: broker defaults, one replica
    assert configs[names.livestream_events]["min.insync.replicas"] == "1"
    assert configs[names.livestream_events]["retention.ms"] != "-1"


async def test_more_replicas_than_brokers_is_a_settings_error(cluster: devstack.Services) -> None:
    with pytest.raises(SettingsError, match="TOPIC_REPLICATION_FACTOR=4"):
        await ensure_topics(
            cluster.kafka_bootstrap_servers, [f"rf4-{uuid.uuid4().hex[:8]}"], replication_factor=4
        )


async def test_the_worker_makes_its_changelog_with_three_replicas(
    cluster: devstack.Services, admin: AIOKafkaAdminClient, tmp_path: Path
) -> None:
    """The real worker on the cluster: its topics and Faust's title-cache changelog, which Faust
    creates itself, get the cluster's replicas."""
    settings = isolated_settings(cluster, topic_replication_factor=3)
    worker = await start_worker(settings, tmp_path)
    try:
        names = [t for t in await admin.list_topics() if t.startswith(settings.topic_prefix)]
        changelog = [t for t in names if t.endswith("-changelog")]
        assert changelog, names
        topics = await describe(admin, [*changelog, TopicNames(settings.topic_prefix).titles])
        for name, topic in topics.items():
            assert {len(p["replicas"]) for p in topic["partitions"]} == {3}, name
        configs = (await topic_configs(admin, changelog))[changelog[0]]
        assert configs["cleanup.policy"] == "compact"
        assert configs["min.insync.replicas"] == "2"
    finally:
        worker.stop()


async def _produce_and_read(bootstrap: str, topic: str, value: bytes) -> list[bytes]:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", request_timeout_ms=20000)
    await producer.start()
    try:
        await producer.send_and_wait(topic, value, key=b"job-1")
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, group_id=f"g-{uuid.uuid4().hex[:8]}", auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        seen: list[bytes] = []
        while value not in seen:
            batch = await consumer.getmany(timeout_ms=20000)
            assert batch, f"nothing read from {topic}; have {seen}"
            seen += [record.value for records in batch.values() for record in records]
        await consumer.commit()  # the offsets topic is replicated too
        return seen
    finally:
        await consumer.stop()


async def test_acks_all_survives_one_broker_down(settings: Settings, admin: AIOKafkaAdminClient) -> None:
    """Last in the module: it stops a node (min.insync 2 of 3 lets writes go on without it)."""
    await ensure_deployment_topics(settings)
    topic = TopicNames(settings.topic_prefix).job_events
    bootstrap = settings.kafka_bootstrap_servers
    assert await _produce_and_read(bootstrap, topic, b"first") == [b"first"]
    offsets = await describe(admin, ["__consumer_offsets"])
    assert {len(p["replicas"]) for p in offsets["__consumer_offsets"]["partitions"]} == {3}

    leader = (await describe(admin, [topic]))[topic]["partitions"][0]["leader"]
    node = next(p for p in procs.running() if p.name == f"kafka-{leader}")
    node.stop()  # SIGTERM: a controlled shutdown, leadership moves to an in-sync replica

    assert await _produce_and_read(bootstrap, topic, b"second") == [b"first", b"second"]
    partition = (await describe(admin, [topic]))[topic]["partitions"][0]
    assert partition["leader"] != leader and len(partition["isr"]) == 2
