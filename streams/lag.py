"""How far a consumer group is behind the log, as the brokers see it: members, committed offsets,
end offsets, and the age of the oldest record not yet consumed.

`GroupLagMonitor` polls one group (the worker's) every few seconds and exports
`streamproc_consumer_group_lag_messages`, `streamproc_consumer_group_members` and the projection
lag gauges. The gateway's `/readyz` reads its latest snapshot; the worker exports the same figures
for its own group. Committed offsets are what survives a crash: a worker that consumed a record
but has not committed it yet still counts it as lag (by at most its commit interval).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from streams.errors import UnavailableError
from streams.kafka import KAFKA_FAILURES, count_error, short_cause, topic_partitions
from streams.metrics import (
    CONSUMER_GROUP_LAG,
    CONSUMER_GROUP_MEMBERS,
    PROJECTION_LAG_EVENTS,
    PROJECTION_LAG_SECONDS,
)

log = logging.getLogger(__name__)

Clock = Callable[[], float]


@dataclass(frozen=True, slots=True)
class PartitionLag:
    topic: str
    partition: int
    end: int
    committed: int  # the group's committed offset, or the log start when it has none
    oldest_age_seconds: float  # age of the record at `committed` (0 when caught up)

    @property
    def lag(self) -> int:
        return max(0, self.end - self.committed)


@dataclass(frozen=True, slots=True)
class GroupSnapshot:
    group: str
    state: str  # the coordinator's: Stable, PreparingRebalance, Empty, Dead, ...
    members: int
    partitions: tuple[PartitionLag, ...]
    taken_at: float  # time.monotonic()

    def topic_lag(self, topic: str) -> tuple[int, float]:
        """(records behind, seconds behind) of one topic, over its partitions."""
        parts = [p for p in self.partitions if p.topic == topic]
        return sum(p.lag for p in parts), max((p.oldest_age_seconds for p in parts), default=0.0)


@dataclass
class GroupLagMonitor:
    """Polls `group`'s lag on `topics`; `projections` maps read-model names to their topics."""

    bootstrap: str
    group: str
    topics: tuple[str, ...]
    projections: Mapping[str, str] = field(default_factory=dict)
    poll_seconds: float = 5.0
    wall_clock: Clock = time.time
    snapshot: GroupSnapshot | None = None
    last_error: str | None = None
    _admin: AIOKafkaAdminClient | None = None
    _consumer: AIOKafkaConsumer | None = None
    _task: asyncio.Task[None] | None = None
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def start(self) -> None:
        """Start polling in the background; a broker that is away is retried, never fatal."""
        self._task = asyncio.create_task(self._run(), name=f"lag-monitor-{self.group}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self._close()

    async def _close(self) -> None:
        admin, consumer, self._admin, self._consumer = self._admin, self._consumer, None, None
        for client in (admin, consumer):
            if client is None:
                continue
            try:
                await (client.close() if isinstance(client, AIOKafkaAdminClient) else client.stop())
            except KAFKA_FAILURES as exc:
                log.debug("lag monitor: closing a client failed: %s", short_cause(exc))

    async def _run(self) -> None:
        failing = False
        while True:
            try:
                await self.poll()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - any failure: say it once, retry each round
                if not failing:
                    log.warning("lag monitor group=%s: %s; retrying", self.group, exc)
                failing = True
            else:
                if failing:
                    log.info("lag monitor group=%s: reading the group again", self.group)
                failing = False
            await asyncio.sleep(self.poll_seconds)

    def fresh(self, max_age_seconds: float) -> GroupSnapshot | None:
        snap = self.snapshot
        if snap is None or time.monotonic() - snap.taken_at > max_age_seconds:
            return None
        return snap

    async def poll(self) -> GroupSnapshot:
        """One look at the group, exported as metrics; the clients are opened again after an error."""
        async with self._lock:
            try:
                snap = await self._poll()
            except KAFKA_FAILURES as exc:
                count_error(exc)
                self.last_error = short_cause(exc)
                await self._close()
                raise ConnectionError(f"Kafka at {self.bootstrap}: {self.last_error}") from exc
            self.last_error = None
            self.snapshot = snap
            self._export(snap)
            return snap

    async def _clients(self) -> tuple[AIOKafkaAdminClient, AIOKafkaConsumer]:
        if self._admin is None:
            admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap, request_timeout_ms=5000)
            await admin.start()
            self._admin = admin
        if self._consumer is None:
            consumer = AIOKafkaConsumer(
                bootstrap_servers=self.bootstrap,
                group_id=None,
                enable_auto_commit=False,
                client_id="streamproc-lag-monitor",
                request_timeout_ms=5000,
            )
            await consumer.start()
            self._consumer = consumer
        return self._admin, self._consumer

    async def _poll(self) -> GroupSnapshot:
        admin, consumer = await self._clients()
        [described] = await admin.describe_consumer_groups([self.group])
        _error, _group, state, _type, _protocol, members = described.groups[0][:6]
        # one metadata request for every topic; a topic not made yet has no lag
        try:
            known = await topic_partitions(consumer, self.topics, self.bootstrap)
        except UnavailableError:  # counted by kafka_errors; as before: no partitions this round
            known = {}
        tps = [TopicPartition(topic, p) for topic, found in known.items() for p in found]
        committed = await admin.list_consumer_group_offsets(self.group, partitions=tps) if tps else {}
        ends = await consumer.end_offsets(tps) if tps else {}
        starts = await consumer.beginning_offsets(tps) if tps else {}
        positions: dict[TopicPartition, int] = {}
        for tp in tps:
            meta = committed.get(tp)
            offset = meta.offset if meta is not None and meta.offset >= 0 else starts[tp]
            positions[tp] = max(offset, starts[tp])
        ages = await self._oldest_ages(consumer, {tp: o for tp, o in positions.items() if ends[tp] > o})
        parts = tuple(
            PartitionLag(tp.topic, tp.partition, ends[tp], positions[tp], ages.get(tp, 0.0)) for tp in tps
        )
        return GroupSnapshot(self.group, str(state), len(members), parts, time.monotonic())

    async def _oldest_ages(
        self, consumer: AIOKafkaConsumer, at: dict[TopicPartition, int]
    ) -> dict[TopicPartition, float]:
        """The age of the first unconsumed record of each lagging partition (one fetch)."""
        if not at:
            return {}
        consumer.assign(list(at))
        for tp, offset in at.items():
            consumer.seek(tp, offset)
        now = self.wall_clock()
        ages: dict[TopicPartition, float] = {}
        deadline = time.monotonic() + 2.0
        while len(ages) < len(at) and time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=500, max_records=len(at) * 4)
            for tp, records in batches.items():
                if tp in at and tp not in ages and records:
                    ages[tp] = max(0.0, now - records[0].timestamp / 1000.0)
            if not batches:
                break
        return ages

    def _export(self, snap: GroupSnapshot) -> None:
        CONSUMER_GROUP_MEMBERS.labels(self.group).set(snap.members)
        for p in snap.partitions:
            CONSUMER_GROUP_LAG.labels(self.group, p.topic, str(p.partition)).set(p.lag)
        for name, topic in self.projections.items():
            events, seconds = snap.topic_lag(topic)
            PROJECTION_LAG_EVENTS.labels(name).set(events)
            PROJECTION_LAG_SECONDS.labels(name).set(seconds if events else 0.0)
