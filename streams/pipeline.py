"""The consume loop every agent runs: decode, dead-letter bad records, retry, then fail loudly."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from streams.errors import AppError, ErrorCode, EventDecodeError, UnavailableError
from streams.events import Envelope, decode
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


@dataclass
class EnvelopeProcessor:
    """Runs one agent's handler over records with the project's error policy.

    - undecodable / unknown / invalid records go to `<topic>.dlq` with error headers; the loop
      goes on;
    - a handler's AppError that is not retryable is dead-lettered the same way;
    - a retryable failure (database or broker unreachable) is retried with backoff, then raised:
      the record is not acknowledged and the worker stops loudly instead of skipping data.
    """

    name: str
    handler: Handler
    sink: RecordSink
    dlq_topic: Callable[[str], str]
    max_attempts: int = 5
    backoff_seconds: float = 0.2
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    processed: int = 0
    dead_lettered: int = 0

    async def process(self, value: bytes | None, meta: RecordMeta) -> None:
        try:
            envelope = decode(value)
        except EventDecodeError as exc:
            await self._dead_letter(value, meta, exc)
            return
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
                        self.name, meta.where(), envelope.id, envelope.type, exc.code, exc.message,
                    )
                    raise
                delay = self.backoff_seconds * (2 ** (attempt - 1))
                log.warning(
                    "retrying consumer=%s at=%s attempt=%d delay=%.2fs error=%s",
                    self.name, meta.where(), attempt, delay, exc.message,
                )
                attempt += 1
                await self.sleep(delay)
                continue
            except Exception as exc:  # noqa: BLE001 - a bug on one record must not stop the partition
                log.exception(
                    "handler failed consumer=%s at=%s event_id=%s type=%s",
                    self.name, meta.where(), envelope.id, envelope.type,
                )
                await self._dead_letter(
                    value, meta, AppError(f"{type(exc).__name__}: {exc}", code=ErrorCode.INTERNAL_ERROR)
                )
                return
            self.processed += 1
            return

    async def _dead_letter(self, value: bytes | None, meta: RecordMeta, error: AppError) -> None:
        self.dead_lettered += 1
        log.warning(
            "dead-lettering consumer=%s at=%s code=%s error=%s",
            self.name, meta.where(), error.code.value, error.message,
        )
        try:
            await self.sink.send_raw(
                self.dlq_topic(meta.topic),
                key=meta.key,
                value=value,
                headers=dlq_headers(meta, error, self.name),
            )
        except Exception as exc:  # noqa: BLE001 - translate at the boundary, keep the cause
            raise UnavailableError(f"cannot write to the DLQ of {meta.topic}: {exc}") from exc


def meta_from_faust(message: Any) -> RecordMeta:
    """Build RecordMeta from a faust Message (duck-typed: keeps Faust out of the contract)."""
    headers = message.headers or ()
    if isinstance(headers, dict):
        headers = headers.items()
    return RecordMeta(
        topic=message.topic,
        partition=message.partition,
        offset=message.offset,
        key=message.key,
        headers=tuple((str(k), bytes(v or b"")) for k, v in headers),
        timestamp=message.timestamp,
    )
