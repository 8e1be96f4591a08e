"""`export`: one row per record of a topic range, as JSON Lines or Parquet, payloads upcast.

Columns: topic, partition, offset, timestamp (the Kafka timestamp, RFC 3339 ms Z), key,
event_id, type, version (of `data`, after upcasting), wire_version (as written), occurred_at,
sequence, data (the payload; a JSON object in JSON Lines, a JSON string in Parquet), error
(`CODE: message` for a record that does not decode; then type/version/data are null) and raw
(such a record's value as text, null otherwise). The file is written beside its path and
renamed into place at the end, so a failed export leaves no half file behind.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TextIO

import pyarrow as pa
import pyarrow.parquet as pq

from projections.replay.progress import Progress
from projections.replay.ranges import Range
from projections.replay.reader import Record, TopicReader, record_time
from streams.errors import EventDecodeError, ValidationError
from streams.events import decode, decode_json, format_time
from streams.settings import Settings

FORMATS = ("jsonl", "parquet")
SCHEMA = pa.schema(
    [
        ("topic", pa.string()),
        ("partition", pa.int32()),
        ("offset", pa.int64()),
        ("timestamp", pa.string()),
        ("key", pa.string()),
        ("event_id", pa.string()),
        ("type", pa.string()),
        ("version", pa.int32()),
        ("wire_version", pa.int32()),
        ("occurred_at", pa.string()),
        ("sequence", pa.int64()),
        ("data", pa.string()),
        ("error", pa.string()),
        ("raw", pa.string()),
    ]
)
ROW_GROUP = 20_000

Row = dict[str, Any]


def _text(raw: bytes | None) -> str | None:
    return None if raw is None else bytes(raw).decode("utf-8", "replace")


def to_row(record: Record) -> Row:
    """One record as a row: the envelope decoded and upcast exactly as the worker does."""
    row: Row = {
        "topic": record.topic,
        "partition": record.partition,
        "offset": record.offset,
        "timestamp": record_time(record),
        "key": _text(record.key),
        "event_id": None,
        "type": None,
        "version": None,
        "wire_version": None,
        "occurred_at": None,
        "sequence": None,
        "data": None,
        "error": None,
        "raw": None,
    }
    try:
        # Parsed here (not in decode) only to keep the version as written beside the upcast one.
        obj = json.loads(bytes(record.value).decode("utf-8")) if record.value is not None else None
    except (UnicodeDecodeError, json.JSONDecodeError):
        obj = None
    try:
        event = decode_json(obj) if isinstance(obj, dict) else decode(record.value)
    except EventDecodeError as exc:
        row.update(error=f"{exc.code.value}: {exc.message}", raw=_text(record.value))
        return row
    wire_version = obj.get("version") if isinstance(obj, dict) else None  # decode() parsed one
    row.update(
        event_id=event.id,
        type=event.type,
        version=event.version,
        wire_version=wire_version,
        occurred_at=format_time(event.occurred_at),
        sequence=event.sequence,
        data=event.payload(),
    )
    return row


class RowSink(Protocol):
    def write(self, rows: list[Row]) -> None: ...

    def close(self) -> None: ...


class JsonlSink:
    def __init__(self, path: Path) -> None:
        self.fh = path.open("w", encoding="utf-8")

    def write(self, rows: list[Row]) -> None:
        self.fh.writelines(json.dumps(row, ensure_ascii=False, separators=(",", ":")) + "\n" for row in rows)

    def close(self) -> None:
        self.fh.close()


class ParquetSink:
    def __init__(self, path: Path) -> None:
        self.writer = pq.ParquetWriter(str(path), SCHEMA, compression="zstd")
        self.pending: list[Row] = []

    def write(self, rows: list[Row]) -> None:
        for row in rows:
            data = row["data"]
            self.pending.append(
                {
                    **row,
                    "data": None
                    if data is None
                    else json.dumps(data, ensure_ascii=False, separators=(",", ":")),
                }
            )
        if len(self.pending) >= ROW_GROUP:
            self._flush()

    def _flush(self) -> None:
        if self.pending:
            self.writer.write_table(pa.Table.from_pylist(self.pending, schema=SCHEMA))
            self.pending = []

    def close(self) -> None:
        self._flush()
        self.writer.close()


@dataclass(frozen=True, slots=True)
class ExportOptions:
    topic: str  # the full topic name
    range: Range
    format: str
    out: Path
    progress: bool | None = None
    connect_timeout: float = 10.0


def open_sink(fmt: str, path: Path) -> RowSink:
    if fmt == "jsonl":
        return JsonlSink(path)
    if fmt == "parquet":
        return ParquetSink(path)
    raise ValidationError(f"unknown format {fmt!r} (use {' or '.join(FORMATS)})")


async def export(settings: Settings, opts: ExportOptions, out: TextIO) -> int:
    if opts.format not in FORMATS:
        raise ValidationError(f"unknown format {opts.format!r} (use {' or '.join(FORMATS)})")
    if not opts.out.parent.is_dir():
        raise ValidationError(f"--out {opts.out}: directory {opts.out.parent} does not exist")
    async with TopicReader(settings.kafka_bootstrap_servers, connect_timeout=opts.connect_timeout) as reader:
        span = await reader.span(opts.topic, opts.range)
        partial = opts.out.with_name(opts.out.name + ".partial")
        sink = open_sink(opts.format, partial)
        progress = Progress(f"export {opts.topic}", span.total(), enabled=opts.progress)
        rows = errors = 0
        try:
            async for batch in reader.batches(span):
                for records in batch.values():
                    converted = [to_row(r) for r in records]
                    sink.write(converted)
                    rows += len(converted)
                    errors += sum(1 for r in converted if r["error"] is not None)
                    progress.add(len(converted))
        except BaseException:
            sink.close()
            partial.unlink(missing_ok=True)
            raise
        sink.close()
        os.replace(partial, opts.out)
        progress.close()
    print(
        f"exported {rows} records of {opts.topic} {opts.range.describe()} to {opts.out} "
        f"({opts.format}; {errors} that do not decode, with an error column)",
        file=out,
    )
    return 0
