"""Envelope, codec, catalog and upcasters: every example record decodes, upcasts and re-encodes."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from streams.errors import ErrorCode, EventDecodeError
from streams.events import CATALOG, decode, encode, format_time, new_event, parse_time, to_wire
from streams.events.netflix import JobProgress, JobStatus, JobStep

pytestmark = pytest.mark.unit

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "events"


def fixture(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def test_every_cataloged_type_and_version_has_an_example() -> None:
    expected = {f"{s.event_type}.v{s.version}.json" for s in CATALOG.specs()}
    present = {p.name for p in FIXTURES.glob("*.json")}
    assert expected <= present, f"missing examples: {sorted(expected - present)}"


@pytest.mark.parametrize("path", sorted(FIXTURES.glob("*.json")), ids=lambda p: p.name)
def test_example_decodes_and_re_encodes_stably(path: Path) -> None:
    raw = path.read_bytes()
    event = decode(raw)
    original = json.loads(raw)
    assert event.id == original["id"]
    assert event.type == original["type"]
    assert event.version == CATALOG.latest(event.type)
    again = decode(encode(event))
    assert to_wire(again) == to_wire(event)
    if original["version"] == CATALOG.latest(original["type"]):
        # a latest-version record survives decode+encode field for field
        assert to_wire(event) == original


def test_old_job_progress_is_upcast_on_read() -> None:
    v1 = fixture("job.progress.v1.json")
    event = decode(json.dumps(v1).encode())
    assert event.version == 2
    assert isinstance(event.data, JobProgress)
    assert event.data.step == "Scraping Netflix"
    assert event.data.step_code is JobStep.SCRAPING_NETFLIX
    # the upcast v1 record equals the v2 example of the same fact
    assert event.payload() == fixture("job.progress.v2.json")["data"]


def test_writers_write_only_the_latest_version() -> None:
    event = new_event(
        JobProgress(
            job_id="j",
            progress=10,
            status=JobStatus.PROCESSING,
            step="Checking cache",
            step_code=JobStep.CHECKING_CACHE,
        ),
        key="j",
        clock=lambda: datetime(2026, 1, 2, 3, 4, 5, 678999, tzinfo=UTC),
        ids=lambda: "fixed",
    )
    wire = to_wire(event)
    assert wire["version"] == 2
    assert wire["id"] == "fixed"
    assert wire["occurredAt"] == "2026-01-02T03:04:05.678Z"
    assert wire["data"]["stepCode"] == "checking_cache"


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        (b"not json", ErrorCode.DECODE_ERROR),
        (b"\xff\xfe", ErrorCode.DECODE_ERROR),
        (b"[]", ErrorCode.DECODE_ERROR),
        (None, ErrorCode.DECODE_ERROR),
        (b'{"id":"1","type":"job.created","version":1,"key":"k"}', ErrorCode.DECODE_ERROR),
        (
            b'{"id":"1","type":"nope","version":1,"key":"k","occurredAt":"2026-01-01T00:00:00Z","data":{}}',
            ErrorCode.UNKNOWN_EVENT,
        ),
        (
            b'{"id":"1","type":"job.created","version":9,"key":"k","occurredAt":"2026-01-01T00:00:00Z","data":{}}',
            ErrorCode.UNKNOWN_EVENT,
        ),
        (
            b'{"id":"1","type":"job.created","version":"1","key":"k","occurredAt":"2026-01-01T00:00:00Z","data":{}}',
            ErrorCode.DECODE_ERROR,
        ),
        (
            b'{"id":"1","type":"job.created","version":1,"key":"k","occurredAt":"yesterday","data":{}}',
            ErrorCode.INVALID_EVENT,
        ),
        (
            b'{"id":"1","type":"job.created","version":1,"key":"k","occurredAt":"2026-01-01T00:00:00Z","data":{}}',
            ErrorCode.INVALID_EVENT,
        ),
    ],
)
def test_bad_records_raise_a_decode_error_with_a_code(raw: bytes | None, code: ErrorCode) -> None:
    with pytest.raises(EventDecodeError) as info:
        decode(raw)
    assert info.value.code is code


def test_times_are_utc_milliseconds_with_z() -> None:
    local = datetime(2026, 5, 1, 15, 0, 0, 123456, tzinfo=timezone(timedelta(hours=3)))
    assert format_time(local) == "2026-05-01T12:00:00.123Z"
    assert parse_time("2026-05-01T15:00:00.123+03:00") == datetime(2026, 5, 1, 12, 0, 0, 123000, tzinfo=UTC)
    with pytest.raises(ValueError):
        parse_time("2026-05-01T12:00:00")  # no offset: ambiguous
    with pytest.raises(ValueError):
        format_time(datetime(2026, 5, 1))  # naive


def test_unknown_fields_from_a_newer_writer_are_tolerated() -> None:
    record = fixture("job.created.v1.json")
    record["data"]["priority"] = "high"
    record["traceparent"] = "00-abc"
    event = decode(json.dumps(record).encode())
    assert event.data.job_id == record["data"]["jobId"]  # type: ignore[attr-defined]
    assert event.extra == {"traceparent": "00-abc"}


def test_catalog_refuses_a_version_without_an_upcaster() -> None:
    from streams.events.catalog import EventCatalog, EventSpec

    with pytest.raises(ValueError, match="no upcaster"):
        EventCatalog(
            [EventSpec("x.y", 1, JobProgress, "t", ""), EventSpec("x.y", 2, JobProgress, "t", "")], {}
        )
