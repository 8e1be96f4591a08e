"""The consume runtime both sides run: record metadata, sinks, DLQ headers, and the per-record
and per-batch processors that decode, dead-letter bad records, retry, then fail loudly."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar

from streams import logs
from streams.errors import AppError, ErrorCode, EventDecodeError, UnavailableError
from streams.events import Envelope, decode
from streams.metrics import DLQ_RECORDS
from streams.topics import (
    DLQ_HEADER_CODE,
    DLQ_HEADER_CONSUMER,
    DLQ_HEADER_MESSAGE,
    DLQ_HEADER_OFFSET,
    DLQ_HEADER_PARTITION,
    DLQ_HEADER_TOPIC,
)

log = logging.getLogger(__name__)

Headers = Sequence[tuple[str, bytes]]


@dataclass(frozen=True, slots=True)
class RecordMeta:
    """Where a record came from: enough to log it, dead-letter it and find it again."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    headers: tuple[tuple[str, bytes], ...] = field(default_factory=tuple)
    timestamp: float | None = None

    def where(self) -> str:
        return f"{self.topic}[{self.partition}]@{self.offset}"


class RecordSink(Protocol):
    """Somewhere to append raw records (Faust's producer in the worker, aiokafka elsewhere)."""

    async def send_raw(
        self, topic: str, *, key: bytes | None, value: bytes | None, headers: Headers
    ) -> None: ...


def dlq_headers(meta: RecordMeta, error: AppError, consumer: str) -> list[tuple[str, bytes]]:
    """The original headers, then ours naming the error and the original position."""
    ours = {
        DLQ_HEADER_CODE: error.code.value,
        DLQ_HEADER_MESSAGE: error.message[:1000],
        DLQ_HEADER_TOPIC: meta.topic,
        DLQ_HEADER_PARTITION: str(meta.partition),
        DLQ_HEADER_OFFSET: str(meta.offset),
        DLQ_HEADER_CONSUMER: consumer,
    }
    kept = [(k, v) for k, v in meta.headers if k not in ours]
    return kept + [(k, v.encode("utf-8")) for k, v in ours.items()]


Handler = Callable[[Envelope, RecordMeta], Awaitable[None]]
Batch = Sequence[tuple[Envelope, RecordMeta]]
# Events of a batch that cannot be applied: (index in the batch, why). They are dead-lettered.
Rejected = list[tuple[int, AppError]]
# Where a batch handler sends what it rejects: it must await it after folding and before it
# writes, so a rejected event is in the DLQ before anything after it in its partition is written
# (a redelivery skips an event below a document's position and would never reject it again).
RejectSink = Callable[[Rejected], Awaitable[None]]
BatchHandler = Callable[[Batch, RejectSink], Awaitable[None]]


H = TypeVar("H")


@dataclass
class _Processor(Generic[H]):
    """What both processors share: a name (the consumer in DLQ headers), the handler, and
    where bad records go."""

    name: str
    handler: H
    sink: RecordSink
    dlq_topic: Callable[[str], str]
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep

    async def _dead_letter(self, value: bytes | None, meta: RecordMeta, error: AppError) -> None:
        """Send the original record to its topic's DLQ with headers naming the error."""
        log.warning(
            "dead-lettering consumer=%s at=%s code=%s error=%s",
            self.name,
            meta.where(),
            error.code.value,
            error.message,
        )
        DLQ_RECORDS.labels(meta.topic, error.code.value).inc()
        try:
            await self.sink.send_raw(
                self.dlq_topic(meta.topic),
                key=meta.key,
                value=value,
                headers=dlq_headers(meta, error, self.name),
            )
        except Exception as exc:  # noqa: BLE001 - translate at the boundary, keep the cause
            raise UnavailableError(f"cannot write to the DLQ of {meta.topic}: {exc}") from exc


@dataclass
class EnvelopeProcessor(_Processor[Handler]):
    """Runs one agent's handler over records with the project's error policy.

    - undecodable / unknown / invalid records go to `<topic>.dlq` with error headers; the loop
      goes on;
    - a handler's AppError that is not retryable is dead-lettered the same way;
    - a retryable failure (database or broker unreachable) is retried with backoff, then raised:
      the record is not acknowledged and the worker stops loudly instead of skipping data.
    """

    max_attempts: int = 5
    backoff_seconds: float = 0.2

    async def process(self, value: bytes | None, meta: RecordMeta) -> None:
        # Every line logged while handling the record (ours, the handler's, the libraries')
        # carries its job or stream and correlation id (streams/logs.py).
        with logs.scope():
            try:
                envelope = decode(value)
            except EventDecodeError as exc:
                await self._dead_letter(value, meta, exc)
                return
            logs.bind(**logs.event_fields(envelope))
            await self._handle(envelope, value, meta)

    async def _handle(self, envelope: Envelope, value: bytes | None, meta: RecordMeta) -> None:
        attempt = 1
        while True:
            try:
                await self.handler(envelope, meta)
            except AppError as exc:
                if not exc.retryable:
                    await self._dead_letter(value, meta, exc)
                    return
                if attempt >= self.max_attempts:
                    log.critical(
                        "giving up consumer=%s at=%s event_id=%s type=%s code=%s error=%s",
                        self.name,
                        meta.where(),
                        envelope.id,
                        envelope.type,
                        exc.code,
                        exc.message,
                    )
                    raise
                delay = self.backoff_seconds * (2 ** (attempt - 1))
                log.warning(
                    "retrying consumer=%s at=%s attempt=%d delay=%.2fs error=%s",
                    self.name,
                    meta.where(),
                    attempt,
                    delay,
                    exc.message,
                )
                attempt += 1
                await self.sleep(delay)
                continue
            except Exception as exc:  # noqa: BLE001 - a bug on one record must not stop the partition
                log.exception(
                    "handler failed consumer=%s at=%s event_id=%s type=%s",
                    self.name,
                    meta.where(),
                    envelope.id,
                    envelope.type,
                )
                await self._dead_letter(
                    value, meta, AppError(f"{type(exc).__name__}: {exc}", code=ErrorCode.INTERNAL_ERROR)
                )
                return
            return


@dataclass
class BatchProcessor(_Processor[BatchHandler]):
    """Runs a batch handler (a projection) over records with the project's error policy.

    - undecodable / unknown / invalid records go to the DLQ; the rest of the batch is applied;
    - events the handler rejects (not retryable) go to the DLQ; the rest is written;
    - a retryable failure (database or broker unreachable, a concurrent write) retries the
      whole batch with capped exponential backoff for up to `retry_seconds`, then raises: the
      caller must not acknowledge the batch (the handler's writes are idempotent, so a retry
      or a redelivery applies nothing twice);
    - any other failure of the whole batch is isolated by applying its records one at a time,
      so one poison record is dead-lettered without losing the others.
    """

    retry_seconds: float = 60.0
    backoff_seconds: float = 0.2
    max_backoff_seconds: float = 5.0
    clock: Callable[[], float] = time.monotonic

    async def process(self, records: Sequence[tuple[bytes | None, RecordMeta]]) -> None:
        decoded: list[tuple[Envelope, RecordMeta, bytes | None]] = []
        for value, meta in records:
            try:
                decoded.append((decode(value), meta, value))
            except EventDecodeError as exc:
                await self._dead_letter(value, meta, exc)
        if not decoded:
            return
        try:
            await self._with_retries(decoded)
        except AppError as exc:
            if exc.retryable:
                raise
            await self._one_by_one(decoded, exc)
        except Exception as exc:  # noqa: BLE001 - isolate the record that breaks the batch
            await self._one_by_one(decoded, exc)

    def _rejects(self, decoded: list[tuple[Envelope, RecordMeta, bytes | None]]) -> RejectSink:
        async def dead_letter(rejected: Rejected) -> None:
            for index, error in rejected:
                event, meta, value = decoded[index]
                with logs.bound(**logs.event_fields(event)):
                    await self._dead_letter(value, meta, error)

        return dead_letter

    async def _with_retries(self, decoded: list[tuple[Envelope, RecordMeta, bytes | None]]) -> None:
        """The handler over the whole batch; a retry may dead-letter a rejected event again (a
        duplicate in the DLQ, never a loss)."""
        batch = [(event, meta) for event, meta, _ in decoded]
        rejects = self._rejects(decoded)
        deadline = self.clock() + self.retry_seconds
        attempt = 1
        while True:
            try:
                await self.handler(batch, rejects)
                return
            except AppError as exc:
                if not exc.retryable:
                    raise
                first, last = decoded[0][1], decoded[-1][1]
                if self.clock() >= deadline:
                    log.critical(
                        "giving up consumer=%s batch=%s..%s records=%d after %d attempts error=%s",
                        self.name,
                        first.where(),
                        last.where(),
                        len(batch),
                        attempt,
                        exc.message,
                    )
                    raise
                delay = min(self.max_backoff_seconds, self.backoff_seconds * 2 ** (attempt - 1))
                log.warning(
                    "retrying batch consumer=%s batch=%s..%s records=%d attempt=%d delay=%.2fs error=%s",
                    self.name,
                    first.where(),
                    last.where(),
                    len(batch),
                    attempt,
                    delay,
                    exc.message,
                )
                attempt += 1
                await self.sleep(delay)

    async def _one_by_one(
        self, decoded: list[tuple[Envelope, RecordMeta, bytes | None]], cause: Exception
    ) -> None:
        log.warning(
            "batch failed consumer=%s error=%r: applying its %d records one by one",
            self.name,
            cause,
            len(decoded),
        )
        for item in decoded:
            event, meta, value = item
            with logs.bound(**logs.event_fields(event)):  # one record: its lines name it
                try:
                    await self._with_retries([item])
                except AppError as exc:
                    if exc.retryable:
                        raise
                    await self._dead_letter(value, meta, exc)
                except Exception as exc:  # noqa: BLE001 - this record is the poison one
                    log.exception("handler failed consumer=%s at=%s", self.name, meta.where())
                    error = AppError(f"{type(exc).__name__}: {exc}", code=ErrorCode.INTERNAL_ERROR)
                    await self._dead_letter(value, meta, error)
