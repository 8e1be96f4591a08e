"""Fixtures of the fault tests that stop and start servers: a three-broker Kafka cluster one of
whose nodes can be SIGKILLed and brought back on its port and data, and a Mongo-wire server
(SecantusDB) that can be stopped and started again on its port and data.

They start their own local processes (never the session's `services`, which other tests share,
nor servers from the environment or Docker, which a test cannot kill), once per module.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from devstack import DevstackError, Services, kafka, procs, secantus
from devstack.resolve import build_targets
from streams.events import Envelope, decode
from streams.kafka import partitions as kafka_partitions
from tests.support import ServiceProcess

CLUSTER_BROKERS = 3
T = TypeVar("T")


@dataclass
class FaultStack:
    """Kafka (one node or a cluster) and SecantusDB, ours to kill and restart."""

    kafka: kafka.LocalKafka
    db: secantus.LocalSecantus

    @property
    def services(self) -> Services:
        """What `isolated_settings` and devstack's children read; on a cluster its env() also
        carries TOPIC_REPLICATION_FACTOR=3 (min.insync.replicas 2)."""
        return Services(
            self.kafka.bootstrap_servers,
            self.db.uri,
            {"kafka": "local", "mongodb": "local"},
            kafka_brokers=len(self.kafka.processes),
        )

    @property
    def replication_factor(self) -> int:
        return kafka.replication_factor(len(self.kafka.processes))

    def restore(self) -> None:
        """Whatever a test stopped, started again (so the next test of the module has it all)."""
        for node_id, proc in enumerate(list(self.kafka.processes), 1):
            if proc.poll() is not None:
                self.kafka.restart_node(node_id)
        if self.db.process.poll() is not None:
            self.db.start_again()


def _start_stack(work: Path, brokers: int) -> Iterator[FaultStack]:
    try:
        built = build_targets(["kafka", "secantus"])
        db = secantus.start_secantus(built["secantus"], work / "secantus")
    except DevstackError as exc:
        pytest.fail(f"no local SecantusDB for the fault tests: {exc}", pytrace=False)
    try:
        try:
            cluster = kafka.start_kafka(built["kafka"], work / "kafka", brokers=brokers)
        except DevstackError as exc:
            pytest.fail(f"no local Kafka ({brokers} nodes) for the fault tests: {exc}", pytrace=False)
        try:
            yield FaultStack(cluster, db)
        finally:
            cluster.stop()
    finally:
        # stop whichever process is current (a restart replaced the first one)
        procs.stop_all([db.process])


@pytest.fixture(scope="module")
def broker_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FaultStack]:
    """Three KRaft nodes (each broker and controller) and a database, for one module."""
    yield from _start_stack(tmp_path_factory.mktemp("faults-cluster"), CLUSTER_BROKERS)


@pytest.fixture(scope="module")
def db_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FaultStack]:
    """One Kafka node and a database that a test may stop and start again, for one module."""
    yield from _start_stack(tmp_path_factory.mktemp("faults-db"), 1)


async def read_topic(bootstrap: str, topic: str) -> list[Envelope]:
    """Every event of `topic` from offset 0 to its current end (all partitions), decoded."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, request_timeout_ms=30000
    )
    await consumer.start()
    try:
        partitions = [TopicPartition(topic, p) for p in await kafka_partitions(consumer, topic, bootstrap)]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        events: list[Envelope] = []
        deadline = time.monotonic() + 60
        while [tp for tp in partitions if await consumer.position(tp) < ends[tp]]:
            assert time.monotonic() < deadline, f"{topic} not read to its end {ends} within 60 s"
            batch = await consumer.getmany(timeout_ms=2000)
            for records in batch.values():
                events += [decode(record.value) for record in records]
        return events
    finally:
        await consumer.stop()


async def while_alive(processes: list[ServiceProcess], waiting: Awaitable[T]) -> T:
    """`waiting`'s result, unless one of `processes` exits first: then fail at once with its
    log, instead of waiting out a timeout for jobs a dead worker will never end."""
    task = asyncio.ensure_future(waiting)
    try:
        while not task.done():
            for proc in processes:
                code = proc.proc.poll() if proc.proc is not None else None
                if code is not None:
                    raise AssertionError(
                        f"{proc.name} exited ({code}) during the fault:\n{proc.log()[-3000:]}"
                    )
            await asyncio.wait([task], timeout=0.5)
        return task.result()
    finally:
        if not task.done():
            task.cancel()
