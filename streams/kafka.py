"""The Kafka adapter: aiokafka's errors made ours, connecting with a deadline, headers, metadata.

Every module that talks to Kafka with aiokafka goes through here, as httpx maps its transport's
exceptions once: `kafka_errors` turns aiokafka and socket failures into UnavailableError,
`start` connects a client until a deadline, `normalize_headers` gives one header shape, and
`record_meta` describes a consumed record the way the consume runtime expects.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from contextlib import asynccontextmanager
from typing import Any, Protocol, TypeVar

from aiokafka import AIOKafkaConsumer
from aiokafka.errors import KafkaConnectionError, KafkaError

from streams.consume import RecordMeta
from streams.errors import NotFoundError, UnavailableError
from streams.metrics import KAFKA_ERRORS

# What aiokafka raises when a broker is away: its own errors, timeouts, and socket errors.
KAFKA_FAILURES: tuple[type[BaseException], ...] = (TimeoutError, KafkaError, OSError)


class Startable(Protocol):
    async def start(self) -> None: ...


C = TypeVar("C", bound=Startable)


def error_kind(exc: BaseException) -> str:
    """The `kind` label of `streamproc_kafka_errors_total`: a bounded name for a failure."""
    if isinstance(exc, TimeoutError):
        return "timeout"
    if isinstance(exc, KafkaConnectionError | OSError):
        return "connection"
    return "broker" if isinstance(exc, KafkaError) else "other"


def count_error(exc: BaseException) -> None:
    """Count one failed Kafka operation in the metrics."""
    KAFKA_ERRORS.labels(error_kind(exc)).inc()


def short_cause(exc: BaseException | None) -> str:
    """A short reason: aiokafka's bootstrap error lists every resolved address."""
    if exc is None or isinstance(exc, asyncio.TimeoutError):
        return "no answer"
    if isinstance(exc, KafkaConnectionError):
        return "connection refused or closed"
    return str(exc) or type(exc).__name__


@asynccontextmanager
async def kafka_errors(what: str, bootstrap: str) -> AsyncIterator[None]:
    """aiokafka (and socket) failures become UnavailableError saying what we were doing."""
    try:
        yield
    except KAFKA_FAILURES as exc:
        count_error(exc)
        raise UnavailableError(f"Kafka at {bootstrap}: {what} failed: {short_cause(exc)}") from exc


async def start(make: Callable[[], C], bootstrap: str, wait_seconds: float) -> C:
    """Start a fresh client from `make` until it connects or `wait_seconds` pass (a broker that
    is still coming up); then UnavailableError. A failed client is stopped before the next try."""
    deadline = time.monotonic() + wait_seconds
    last: BaseException | None = None
    while True:
        client = make()
        try:
            await asyncio.wait_for(client.start(), max(0.1, deadline - time.monotonic()))
            return client
        except KAFKA_FAILURES as exc:
            last = exc
            await close(client)
        left = deadline - time.monotonic()
        if left <= 0:
            raise UnavailableError(
                f"Kafka at {bootstrap} is unreachable (waited {wait_seconds:.0f} s): {short_cause(last)}"
            )
        await asyncio.sleep(min(0.5, left))


Headers = Iterable[tuple[Any, Any]] | Mapping[Any, Any] | None


async def close(client: Any) -> None:
    """Stop a producer or consumer, close an admin client (aiokafka names them differently)."""
    await (client.stop() if hasattr(client, "stop") else client.close())


def normalize_headers(headers: Headers) -> tuple[tuple[str, bytes], ...]:
    """Record headers as (str, bytes) pairs, whatever shape a client hands them in."""
    if not headers:
        return ()
    pairs = headers.items() if isinstance(headers, Mapping) else headers
    return tuple((str(k), bytes(v or b"")) for k, v in pairs)


def record_meta(record: Any, *, timestamp_unit: float = 1000.0) -> RecordMeta:
    """RecordMeta of a consumed record: an aiokafka ConsumerRecord (timestamp in ms, the
    default) or a Faust Message (seconds: `timestamp_unit=1`). RecordMeta's is in seconds."""
    stamp = record.timestamp
    return RecordMeta(
        topic=record.topic,
        partition=record.partition,
        offset=record.offset,
        key=record.key,
        headers=normalize_headers(record.headers),
        timestamp=stamp / timestamp_unit if stamp is not None else None,
    )


async def partitions(consumer: AIOKafkaConsumer, topic: str, bootstrap: str) -> list[int]:
    """The topic's partitions; NotFoundError when the broker does not know it.

    Asks for the metadata of every topic: asking for one by name could auto-create it. The
    public `consumer.topics()` makes that very request but keeps only the names, and
    `partitions_for_topic` reads a cache that may not have the topic yet, so this one place
    reads the full answer from the consumer's client."""
    found = (await topic_partitions(consumer, [topic], bootstrap)).get(topic)
    if not found:
        raise NotFoundError(f"unknown topic {topic!r} on {bootstrap}")
    return found


async def topic_partitions(
    consumer: AIOKafkaConsumer, topics: Iterable[str], bootstrap: str
) -> dict[str, list[int]]:
    """The partitions of each of `topics` the broker knows (one metadata request for all of
    them, as `partitions` explains); a topic it does not know is left out."""
    wanted = list(topics)
    async with kafka_errors(f"list topics for {', '.join(wanted)}", bootstrap):
        cluster = await consumer._client.fetch_all_metadata()  # noqa: SLF001 - see `partitions`
    known = cluster.topics()
    return {t: sorted(cluster.partitions_for_topic(t) or ()) for t in wanted if t in known}
