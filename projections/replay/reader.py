"""Bounded reads of a topic with a plain aiokafka consumer: no group, manual assignment, from
given offsets to offsets captured beforehand (Kafka errors mapped by `streams.kafka`)."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeAlias

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

from projections.replay.ranges import Bound, OffsetBound, Range
from streams import kafka
from streams.errors import UnavailableError
from streams.events import format_time
from streams.topics import ALL_TOPICS, DLQ_SUFFIX

log = logging.getLogger(__name__)

Offsets = dict[int, int]
Record: TypeAlias = ConsumerRecord[bytes, bytes]
# How long a read may see nothing although records are due before it gives up.
STALL_SECONDS = 60.0


def resolve_topic(name: str, prefix: str) -> str:
    """A public topic name (`netflix.job-events`, or its `.dlq`) gets the deployment's prefix;
    anything else is taken as a full topic name."""
    public = name[: -len(DLQ_SUFFIX)] if name.endswith(DLQ_SUFFIX) else name
    return prefix + name if public in ALL_TOPICS else name


def record_time(record: Any) -> str:
    """The Kafka timestamp (ms) as RFC 3339 UTC with milliseconds and `Z`."""
    ms = int(record.timestamp)
    at = datetime.fromtimestamp(ms // 1000, UTC).replace(microsecond=(ms % 1000) * 1000)
    return format_time(at)


@dataclass(frozen=True, slots=True)
class Span:
    """Per partition, `start` inclusive to `end` exclusive."""

    topic: str
    start: Offsets
    end: Offsets

    def total(self) -> int:
        return sum(max(0, self.end[p] - self.start.get(p, 0)) for p in self.end)


class TopicReader:
    """One consumer, started with a bounded wait, for several bounded reads."""

    def __init__(self, bootstrap: str, *, connect_timeout: float = 10.0) -> None:
        self.bootstrap = bootstrap
        self.connect_timeout = connect_timeout
        self.consumer: AIOKafkaConsumer | None = None

    async def __aenter__(self) -> TopicReader:
        self.consumer = await kafka.start(
            lambda: AIOKafkaConsumer(
                bootstrap_servers=self.bootstrap,
                group_id=None,
                enable_auto_commit=False,
                auto_offset_reset="earliest",
                request_timeout_ms=15000,
                fetch_max_bytes=64 * 1024 * 1024,
                max_partition_fetch_bytes=16 * 1024 * 1024,
                fetch_max_wait_ms=100,
            ),
            self.bootstrap,
            self.connect_timeout,
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.consumer is not None:
            await self.consumer.stop()
            self.consumer = None

    def _c(self) -> AIOKafkaConsumer:
        if self.consumer is None:
            raise RuntimeError("TopicReader used outside `async with`")
        return self.consumer

    def _errors(self, what: str) -> Any:
        return kafka.kafka_errors(what, self.bootstrap)

    async def partitions(self, topic: str) -> list[int]:
        """The topic's partitions; NotFoundError when the broker does not know it."""
        return await kafka.partitions(self._c(), topic, self.bootstrap)

    def _tps(self, topic: str, partitions: Iterable[int]) -> list[TopicPartition]:
        return [TopicPartition(topic, p) for p in partitions]

    async def end_offsets(self, topic: str) -> Offsets:
        tps = self._tps(topic, await self.partitions(topic))
        async with self._errors(f"end offsets of {topic}"):
            found = await self._c().end_offsets(tps)
        return {tp.partition: int(o) for tp, o in found.items()}

    async def beginning_offsets(self, topic: str) -> Offsets:
        tps = self._tps(topic, await self.partitions(topic))
        async with self._errors(f"beginning offsets of {topic}"):
            found = await self._c().beginning_offsets(tps)
        return {tp.partition: int(o) for tp, o in found.items()}

    async def offsets_at(self, topic: str, bound: Bound, end: Offsets) -> Offsets:
        """Where `bound` cuts each partition (never past `end`)."""
        if isinstance(bound, OffsetBound):
            return {p: min(bound.offset, e) for p, e in end.items()}
        query = {tp: bound.millis for tp in self._tps(topic, end)}
        async with self._errors(f"offsets for times in {topic}"):
            found = await self._c().offsets_for_times(query)
        return {
            tp.partition: (min(int(v.offset), end[tp.partition]) if v is not None else end[tp.partition])
            for tp, v in found.items()
        }

    async def span(self, topic: str, rng: Range | None = None) -> Span:
        rng = rng or Range()
        begin = await self.beginning_offsets(topic)
        end = await self.end_offsets(topic)
        start = dict(begin) if rng.start is None else await self.offsets_at(topic, rng.start, end)
        stop = dict(end) if rng.end is None else await self.offsets_at(topic, rng.end, end)
        start = {p: min(max(start[p], begin[p]), stop[p]) for p in end}
        return Span(topic, start, stop)

    async def batches(self, span: Span, *, max_records: int = 5000) -> AsyncIterator[dict[int, list[Record]]]:
        """The records of `span`, as {partition: records in offset order} per fetch."""
        consumer = self._c()
        todo = {p for p, e in span.end.items() if span.start.get(p, 0) < e}
        if not todo:
            return
        tps = {p: TopicPartition(span.topic, p) for p in todo}
        consumer.assign(list(tps.values()))
        for p, tp in tps.items():
            consumer.seek(tp, span.start[p])
        quiet_since = time.monotonic()
        while todo:
            async with self._errors(f"read {span.topic}"):
                got = await consumer.getmany(
                    *(tps[p] for p in sorted(todo)), timeout_ms=500, max_records=max_records
                )
            out: dict[int, list[Record]] = {}
            for tp, records in got.items():
                p = tp.partition
                if p not in todo:
                    continue
                keep = [r for r in records if r.offset < span.end[p]]
                if keep:
                    out[p] = keep
            for p in list(todo):
                # position, not the last offset seen: compaction and transaction markers leave gaps
                async with self._errors(f"position in {span.topic}"):
                    position = await consumer.position(tps[p])
                if position >= span.end[p]:
                    todo.discard(p)
                    consumer.pause(tps[p])
            if out:
                quiet_since = time.monotonic()
                yield out
            elif time.monotonic() - quiet_since > STALL_SECONDS:
                raise UnavailableError(
                    f"Kafka at {self.bootstrap}: no records from {span.topic} for "
                    f"{STALL_SECONDS:.0f} s although partitions {sorted(todo)} are not at the end"
                )
        consumer.assign([])
