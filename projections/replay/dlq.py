"""`dlq list` and `dlq redrive`: show dead-lettered records and send them back to their
original topic, as they are (the code was fixed) or with a fixed value, once each.

What was redriven is remembered in a marker topic beside the DLQ (`<dlq topic>.redriven`):
one record per redrive, keyed `<dlq topic>:<partition>:<offset>`. A marker topic, not a
consumer group's committed offset, because a redrive may pick single records out of order
(`--offset`), which a single high-water mark per partition cannot describe. The marker is
written after the broker acknowledged the redriven record: a crash in between resends that
one record on the next run (at least once, as everywhere else; the folds are idempotent).
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from aiokafka import AIOKafkaProducer

from projections.replay.progress import Progress
from projections.replay.reader import TopicReader, record_time, resolve_topic
from streams import kafka
from streams.admin import ensure_topics
from streams.errors import EventDecodeError, NotFoundError, ValidationError
from streams.events import decode, format_time
from streams.events.envelope import utc_now
from streams.settings import Settings
from streams.topics import (
    DLQ_HEADER_CODE,
    DLQ_HEADER_MESSAGE,
    DLQ_HEADER_OFFSET,
    DLQ_HEADER_PARTITION,
    DLQ_HEADER_TOPIC,
    DLQ_SUFFIX,
)

REDRIVEN_HEADER = "x-redriven-from"
MARKER_SUFFIX = ".redriven"


def dlq_topic_for(name: str, prefix: str) -> str:
    """`netflix.job-events`, `netflix.job-events.dlq` or a full name -> the full DLQ name."""
    full = resolve_topic(name, prefix)
    return full if full.endswith(DLQ_SUFFIX) else full + DLQ_SUFFIX


@dataclass(frozen=True, slots=True)
class DeadLetter:
    dlq: str
    partition: int
    offset: int
    timestamp: str
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...]

    def header(self, name: str) -> str | None:
        for k, v in self.headers:
            if k == name:
                return v.decode("utf-8", "replace")
        return None

    @property
    def ref(self) -> str:
        return f"{self.dlq}:{self.partition}:{self.offset}"


def _preview(raw: bytes | None, limit: int = 60) -> str:
    if raw is None:
        return "<null>"
    text = raw.decode("utf-8", "replace")
    return repr(text if len(text) <= limit else text[:limit] + "...")


async def read_topic(reader: TopicReader, topic: str, progress: bool | None) -> list[Any]:
    span = await reader.span(topic)
    bar = Progress(f"read {topic}", span.total(), enabled=progress)
    records: list[Any] = []
    async for batch in reader.batches(span):
        for recs in batch.values():
            records += recs
            bar.add(len(recs))
    bar.close()
    return sorted(records, key=lambda r: (r.partition, r.offset))


async def dead_letters(reader: TopicReader, dlq: str, progress: bool | None) -> list[DeadLetter]:
    await reader.partitions(dlq)  # NotFoundError for an unknown topic
    return [
        DeadLetter(
            dlq,
            r.partition,
            r.offset,
            record_time(r),
            r.key,
            r.value,
            kafka.normalize_headers(r.headers),
        )
        for r in await read_topic(reader, dlq, progress)
    ]


async def redriven(reader: TopicReader, dlq: str) -> dict[str, dict[str, Any]]:
    """DLQ record ref -> what its redrive wrote (empty when nothing was ever redriven)."""
    marker = dlq + MARKER_SUFFIX
    try:
        records = await read_topic(reader, marker, progress=False)
    except NotFoundError:
        return {}
    return {r.key.decode("utf-8"): json.loads(r.value) for r in records if r.key and r.value}


async def list_dead_letters(
    settings: Settings,
    topic: str,
    out: TextIO,
    *,
    progress: bool | None = None,
    connect_timeout: float = 10.0,
) -> int:
    dlq = dlq_topic_for(topic, settings.topic_prefix)
    async with TopicReader(settings.kafka_bootstrap_servers, connect_timeout=connect_timeout) as reader:
        letters = await dead_letters(reader, dlq, progress)
        done = await redriven(reader, dlq)
    print(
        f"{dlq}: {len(letters)} dead-lettered records, {sum(1 for d in letters if d.ref in done)} redriven",
        file=out,
    )
    if letters:
        print(
            "partition\toffset\tkey\tx-error-code\tx-error-message\toriginal\tstatus\tvalue",
            file=out,
        )
    for d in letters:
        original = (
            f"{d.header(DLQ_HEADER_TOPIC)}[{d.header(DLQ_HEADER_PARTITION)}]@{d.header(DLQ_HEADER_OFFSET)}"
        )
        message = (d.header(DLQ_HEADER_MESSAGE) or "").replace("\n", " ")
        status = "redriven" if d.ref in done else "pending"
        key = d.key.decode("utf-8", "replace") if d.key is not None else "<null>"
        print(
            f"{d.partition}\t{d.offset}\t{key}\t{d.header(DLQ_HEADER_CODE)}\t"
            f"{message[:120]}\t{original}\t{status}\t{_preview(d.value)}",
            file=out,
        )
    return 0


def _select(letters: list[DeadLetter], wanted: list[str]) -> list[DeadLetter]:
    """`N` (any partition) or `P:N` per item."""
    chosen: list[DeadLetter] = []
    for item in wanted:
        part, _, off = item.rpartition(":")
        try:
            offset, partition = int(off), (int(part) if part else None)
        except ValueError:
            raise ValidationError(f"bad --offset {item!r}: expected N or PARTITION:N") from None
        found = [d for d in letters if d.offset == offset and (partition is None or d.partition == partition)]
        if not found:
            where = letters[0].dlq if letters else "the DLQ"
            raise ValidationError(f"no dead-lettered record at offset {item} in {where}")
        chosen += [d for d in found if d not in chosen]
    return chosen


async def _producer(bootstrap: str, wait_seconds: float) -> AIOKafkaProducer:
    return await kafka.start(
        lambda: AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True),
        bootstrap,
        wait_seconds,
    )


async def redrive(
    settings: Settings,
    topic: str,
    out: TextIO,
    *,
    offsets: list[str] | None = None,
    value_file: Path | None = None,
    dry_run: bool = False,
    progress: bool | None = None,
    connect_timeout: float = 10.0,
) -> int:
    bootstrap = settings.kafka_bootstrap_servers
    dlq = dlq_topic_for(topic, settings.topic_prefix)
    replacement = await _replacement(value_file) if value_file is not None else None
    async with TopicReader(bootstrap, connect_timeout=connect_timeout) as reader:
        todo = await _to_redrive(reader, dlq, offsets, replacement is not None, out, progress)
    if dry_run:
        for d in todo:
            print(
                f"would redrive [{d.partition}]@{d.offset} to {d.header(DLQ_HEADER_TOPIC)}"
                + (f" with the value of {value_file}" if replacement is not None else ""),
                file=out,
            )
        print(f"would redrive {len(todo)} records from {dlq}", file=out)
        return 0
    if not todo:
        print(f"nothing to redrive from {dlq}", file=out)
        return 0
    how = f" with the value of {value_file}" if replacement is not None else " as it was"
    await _send(bootstrap, dlq, todo, replacement, how, connect_timeout, out)
    print(f"redrove {len(todo)} records from {dlq}", file=out)
    return 0


async def _replacement(value_file: Path) -> bytes:
    """The fixed value to send instead of the dead-lettered one; it must decode."""
    try:
        replacement = await asyncio.to_thread(value_file.read_bytes)
    except OSError as exc:
        raise ValidationError(f"--value-file {value_file}: {exc.strerror or exc}") from exc
    try:
        decode(replacement)
    except EventDecodeError as exc:
        raise ValidationError(f"--value-file {value_file} does not decode either: {exc.message}") from exc
    return replacement


async def _to_redrive(
    reader: TopicReader,
    dlq: str,
    offsets: list[str] | None,
    replacing: bool,
    out: TextIO,
    progress: bool | None,
) -> list[DeadLetter]:
    """The selected dead letters not redriven yet (those already are said, and skipped)."""
    letters = await dead_letters(reader, dlq, progress)
    done = await redriven(reader, dlq)
    chosen = _select(letters, offsets) if offsets else letters
    for d in chosen:
        if d.ref in done:
            print(f"already redriven: [{d.partition}]@{d.offset} -> {done[d.ref].get('to')}", file=out)
    todo = [d for d in chosen if d.ref not in done]
    if replacing and len(todo) > 1:
        raise ValidationError(
            f"--value-file replaces one record's value, but {len(todo)} are "
            "selected and not yet redriven: pick one with --offset"
        )
    for d in todo:
        original = d.header(DLQ_HEADER_TOPIC)
        if not original:
            raise ValidationError(f"[{d.partition}]@{d.offset} has no {DLQ_HEADER_TOPIC} header")
        await reader.partitions(original)  # the original topic must still exist
    return todo


async def _send(
    bootstrap: str,
    dlq: str,
    todo: list[DeadLetter],
    replacement: bytes | None,
    how: str,
    connect_timeout: float,
    out: TextIO,
) -> None:
    """Each record back to its original topic, then a marker so it is never redriven twice."""
    marker = dlq + MARKER_SUFFIX
    # Kept forever (markers are tiny): one that expired before its dead letter (30 days) would
    # let that letter be redriven twice.
    await ensure_topics(bootstrap, {marker: {"retention.ms": "-1"}}, wait_seconds=5.0)
    producer = await _producer(bootstrap, connect_timeout)
    try:
        for d in todo:
            target = d.header(DLQ_HEADER_TOPIC) or ""
            headers = [(k, v) for k, v in d.headers if k != REDRIVEN_HEADER]
            headers.append((REDRIVEN_HEADER, d.ref.encode("utf-8")))
            value = replacement if replacement is not None else d.value
            async with kafka.kafka_errors(f"redrive to {target}", bootstrap):
                sent = await producer.send_and_wait(target, value, key=d.key, headers=headers)
                to = f"{target}[{sent.partition}]@{sent.offset}"
                note = {
                    "from": d.ref,
                    "to": to,
                    "replaced": replacement is not None,
                    "at": format_time(utc_now()),
                }
                await producer.send_and_wait(
                    marker, json.dumps(note).encode("utf-8"), key=d.ref.encode("utf-8")
                )
            print(f"redrove [{d.partition}]@{d.offset} -> {to}{how}", file=out)
    finally:
        await producer.stop()
