"""`export`: 10,000 records of several types (a v1 job.progress among them, and undecodable
ones) to JSON Lines and Parquet, read back row by row, and the docs' DuckDB queries on them."""

from __future__ import annotations

import asyncio
import json
import re
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow.parquet as pq
import pytest

from streams.admin import ensure_topics
from streams.events import Envelope, encode, format_time, new_event
from streams.events.livestream import ParticipantJoined, Role, StreamCreated, UserProfile
from streams.events.netflix import (
    JobCompleted,
    JobCreated,
    JobError,
    JobFailed,
    JobProgress,
    JobStatus,
    JobStep,
    TitleScraped,
)
from streams.settings import Settings
from streams.topics import TopicNames
from tests.integration.replay_cli import TITLE, Sent, cli, cli_process, connection_args, produce

pytestmark = pytest.mark.integration
DOCS = Path(__file__).resolve().parents[2] / "docs" / "replay.md"
N = 10_000
T0 = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


def event(i: int) -> Envelope | dict[str, Any] | bytes:
    """Record i of the mix: an Envelope, a raw v1 job.progress dict, or undecodable bytes."""
    job = f"job-{i // 10}"
    sid = f"65f00000000000000000{i // 10:04x}"
    kind = i % 10
    if i % 1000 == 999:
        return b"\x00not json " + str(i).encode()
    if kind == 0:
        return new_event(
            JobCreated(job_id=job, url=TITLE.url, country="tr", title_id="81616256"),
            key=job,
            sequence=1,
        )
    if kind in (1, 2, 3):
        step = (JobStep.CHECKING_CACHE, JobStep.CHECKING_DATABASE, JobStep.SCRAPING_NETFLIX)[kind - 1]
        return new_event(
            JobProgress(
                job_id=job,
                progress=10 * kind,
                status=JobStatus.PROCESSING,
                step="Working",
                step_code=step,
            ),
            key=job,
            sequence=kind + 1,
        )
    if kind == 4:  # an old writer: job.progress v1 carried the step code in `step`
        return {
            "id": f"v1-{i}",
            "type": "job.progress",
            "version": 1,
            "key": job,
            "occurredAt": "2026-05-01T12:00:00.000Z",
            "sequence": 5,
            "data": {
                "jobId": job,
                "progress": 80,
                "status": "processing",
                "step": "saving_to_database",
            },
        }
    if kind == 5:
        return new_event(JobCompleted(job_id=job, source="netflix", data=TITLE), key=job, sequence=6)
    if kind == 6:
        return new_event(
            TitleScraped(country="tr", title_id=str(i), scraped_at=T0, title=TITLE, job_id=job),
            key=f"tr:{i}",
        )
    if kind == 7:
        return new_event(
            StreamCreated(
                live_stream_id=sid,
                title="s",
                live_stream_type="solo",
                channel_name="c",
                creator=UserProfile(id="u1"),
                created_at=T0,
            ),
            key=sid,
        )
    if kind == 8:
        return new_event(
            ParticipantJoined(
                live_stream_id=sid,
                user_id=f"u{i}",
                role=Role.AUDIENCE,
                channel="rest",
                joined_at=T0,
            ),
            key=sid,
        )
    return new_event(
        JobFailed(job_id=job, progress=50, error=JobError(code="SCRAPE_ERROR", message="403")),
        key=job,
        sequence=7,
    )


def record(item: Envelope | dict[str, Any] | bytes) -> tuple[bytes | None, bytes]:
    if isinstance(item, Envelope):
        return item.key.encode(), encode(item)
    if isinstance(item, dict):
        return item["key"].encode(), json.dumps(item).encode()
    return b"poison", item


def ms_time(ms: int) -> str:
    return format_time(datetime.fromtimestamp(ms // 1000, UTC).replace(microsecond=(ms % 1000) * 1000))


def expected_row(topic: str, item: Envelope | dict[str, Any] | bytes, sent: Sent) -> dict[str, Any]:
    """What the export must say about one produced record (built from the producer's side)."""
    row: dict[str, Any] = {
        "topic": topic,
        "partition": sent.partition,
        "offset": sent.offset,
        "timestamp": ms_time(sent.timestamp),
        "key": sent.key.decode() if sent.key is not None else None,
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
    if isinstance(item, bytes):
        row.update(error="DECODE_ERROR: value is not JSON: Expecting value at 0", raw=item.decode("utf-8"))
    elif isinstance(item, dict):  # upcast v1 -> v2: description in `step`, code in `stepCode`
        row.update(
            event_id=item["id"],
            type="job.progress",
            version=2,
            wire_version=1,
            occurred_at=item["occurredAt"],
            sequence=5,
            data={**item["data"], "step": "Saving to database", "stepCode": "saving_to_database"},
        )
    else:
        row.update(
            event_id=item.id,
            type=item.type,
            version=item.version,
            wire_version=item.version,
            occurred_at=format_time(item.occurred_at),
            sequence=item.sequence,
            data=item.payload(),
        )
    return row


async def test_export_10000_records_to_jsonl_and_parquet(settings: Settings, tmp_path: Path) -> None:
    topic = f"{settings.topic_prefix}export-mix"  # a full name, three partitions
    await ensure_topics(settings.kafka_bootstrap_servers, [topic], partitions=3)
    items = [event(i) for i in range(N)]
    sent = await produce(settings.kafka_bootstrap_servers, topic, [record(x) for x in items])
    assert {s.partition for s in sent} == {0, 1, 2}
    expected = sorted(
        (expected_row(topic, item, s) for item, s in zip(items, sent, strict=True)),
        key=lambda r: (r["partition"], r["offset"]),
    )

    jsonl, parquet = tmp_path / "events.jsonl", tmp_path / "events.parquet"
    # JSON Lines through the real entrypoint; Parquet in process
    done = await cli_process(
        [
            "export",
            "--topic",
            topic,
            "--format",
            "jsonl",
            "--out",
            str(jsonl),
            *connection_args(settings),
        ]
    )
    assert done.code == 0, done.err
    assert f"exported {N} records" in done.out and "10 that do not decode" in done.out
    result = await cli(settings, "export", "--topic", topic, "--format", "parquet", "--out", str(parquet))
    assert result.code == 0, result.err

    from_jsonl = [json.loads(line) for line in jsonl.read_text(encoding="utf-8").splitlines()]
    table = pq.read_table(parquet)
    assert str(table.schema.field("data").type) == "string"
    from_parquet = [
        {**r, "data": json.loads(r["data"]) if r["data"] is not None else None} for r in table.to_pylist()
    ]
    for rows in (from_jsonl, from_parquet):
        rows.sort(key=lambda r: (r["partition"], r["offset"]))
        assert len(rows) == N
        for got, want in zip(rows, expected, strict=True):
            assert got == want
    # the v1 record came out upcast
    v1 = next(r for r in from_parquet if r["type"] == "job.progress" and r["wire_version"] == 1)
    assert (v1["version"], v1["data"]["stepCode"], v1["data"]["step"]) == (
        2,
        "saving_to_database",
        "Saving to database",
    )

    # The DuckDB examples in docs/replay.md, run as written (file names pointed at tmp_path).
    queries = re.findall(r"```sql\n(.*?)```", DOCS.read_text(encoding="utf-8"), re.S)
    assert len(queries) == 3
    types = Counter(r["type"] for r in expected)
    for sql, source in ((queries[0], "events.jsonl"), (queries[1], "events.parquet")):
        assert source in sql
        got = duckdb.sql(sql.replace(f"'{source}'", f"'{tmp_path / source}'")).fetchall()
        assert dict(got) == dict(types)
    steps = duckdb.sql(queries[2].replace("'events.parquet'", f"'{parquet}'")).fetchall()
    assert dict(steps) == dict(
        Counter(r["data"]["stepCode"] for r in expected if r["type"] == "job.progress")
    )


async def test_export_a_range_by_offset_and_time_of_a_public_topic(
    settings: Settings, tmp_path: Path
) -> None:
    names = TopicNames(settings.topic_prefix)
    await ensure_topics(settings.kafka_bootstrap_servers, [names.job_events])
    first = await produce(
        settings.kafka_bootstrap_servers, names.job_events, [record(event(i)) for i in range(10)]
    )
    cut = max(s.timestamp for s in first) + 1
    await asyncio.sleep(0.05)
    await produce(
        settings.kafka_bootstrap_servers,
        names.job_events,
        [record(event(i)) for i in range(10, 20)],
    )
    out = tmp_path / "range.jsonl"

    async def offsets(*bounds: str) -> list[int]:
        result = await cli(
            settings,
            "export",
            "--topic",
            "netflix.job-events",
            *bounds,
            "--format",
            "jsonl",
            "--out",
            str(out),
        )
        assert result.code == 0, result.err
        return [json.loads(line)["offset"] for line in out.read_text().splitlines()]

    assert await offsets("--from", "offset:3", "--to", "7") == [3, 4, 5, 6]
    when = ms_time(cut)
    assert await offsets("--to", f"time:{when}") == list(range(10))
    assert await offsets("--from", when) == list(range(10, 20))
    assert await offsets("--from", "offset:5", "--to", "offset:5") == []
