"""Range bounds and the progress bar of `python -m projections.replay`: pure parts, no servers."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import pytest

from projections.replay.dlq import dlq_topic_for
from projections.replay.progress import Progress, render
from projections.replay.ranges import OffsetBound, RangeError, TimeBound, parse_bound, parse_range
from projections.replay.reader import Span, resolve_topic
from projections.replay.verify import field_differences
from tests.clocks import FakeClock

pytestmark = pytest.mark.unit
NOON = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("raw", "bound"),
    [
        ("offset:12", OffsetBound(12)),
        ("OFFSET: 7", OffsetBound(7)),
        ("42", OffsetBound(42)),
        ("0", OffsetBound(0)),
        ("time:2026-05-01T12:00:00Z", TimeBound(NOON)),
        ("2026-05-01T12:00:00.000Z", TimeBound(NOON)),
        ("2026-05-01T14:00:00+02:00", TimeBound(NOON)),
        ("time:2026-05-01T12:00:00.123456Z", TimeBound(NOON.replace(microsecond=123000))),
    ],
)
def test_bounds_parse(raw: str, bound: object) -> None:
    assert parse_bound(raw) == bound


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("offset:-1", "bad offset"),
        ("offset:ten", "bad offset"),
        ("time:yesterday", "bad time 'time:yesterday'"),
        ("2026-05-01T12:00:00", "without an offset"),
        ("2026-13-01T00:00:00Z", "bad time"),
        ("", "empty bound"),
        ("-5", "bad time"),
    ],
)
def test_bad_bounds_say_what_is_wrong(raw: str, message: str) -> None:
    with pytest.raises(RangeError, match=message) as caught:
        parse_bound(raw)
    assert "\n" not in caught.value.message


def test_time_bound_in_milliseconds_and_as_a_collection_label() -> None:
    bound = TimeBound(NOON.replace(microsecond=5000))
    assert bound.millis == int(NOON.timestamp() * 1000) + 5
    assert bound.label() == "20260501T120000005Z"
    assert str(bound) == "time:2026-05-01T12:00:00.005Z"
    assert OffsetBound(3).label() == "offset3"


def test_ranges_refuse_going_backwards_within_one_kind() -> None:
    assert parse_range("offset:5", "offset:5").start == OffsetBound(5)  # empty is fine
    assert parse_range(None, None).describe() == "[beginning, end)"
    with pytest.raises(RangeError, match="--from offset:9 is after --to offset:3"):
        parse_range("9", "3")
    with pytest.raises(RangeError, match="bad range"):
        parse_range("2026-05-02T00:00:00Z", "2026-05-01T00:00:00Z")
    # a time and an offset only compare per partition, on the broker
    mixed = parse_range("2026-05-02T00:00:00Z", "offset:1")
    assert mixed.describe() == "[time:2026-05-02T00:00:00.000Z, offset:1)"


def test_span_totals() -> None:
    assert Span("t", {0: 2, 1: 0}, {0: 10, 1: 5}).total() == 13
    assert Span("t", {0: 7}, {0: 7, 1: 0}).total() == 0


def test_topic_names_resolve_with_the_prefix_only_when_public() -> None:
    assert resolve_topic("netflix.job-events", "p1.") == "p1.netflix.job-events"
    assert resolve_topic("netflix.job-events.dlq", "p1.") == "p1.netflix.job-events.dlq"
    assert resolve_topic("p1.netflix.job-events", "p1.") == "p1.netflix.job-events"
    assert resolve_topic("other.topic", "p1.") == "other.topic"
    assert dlq_topic_for("livestream.events", "p.") == "p.livestream.events.dlq"
    assert dlq_topic_for("p.livestream.events.dlq", "p.") == "p.livestream.events.dlq"


def test_render_with_total_rate_and_eta() -> None:
    assert render("export t", 500, 2000, 2.0, width=10) == (
        "export t [##--------] 500/2000  25.0% 250 ev/s ETA 00:06"
    )
    assert render("x", 2000, 2000, 4.0, width=4) == "x [####] 2000/2000 100.0% 500 ev/s done"
    assert render("x", 0, 10, 0.0, width=4) == "x [----] 0/10   0.0% 0 ev/s ETA --:--"
    assert render("x", 50_000, 360_800_000, 1.0, width=2).endswith("50.0k ev/s ETA 2:00:15")
    assert render("x", 1_500_000, None, 1.0) == "x 1500000 events 1.5M ev/s 00:01"


def test_progress_redraws_at_most_five_times_a_second() -> None:
    clock, out = FakeClock(100.0), io.StringIO()
    bar = Progress("rebuild jobs", 1000, enabled=True, stream=out, clock=clock)
    for _ in range(100):  # 100 events within 0.1 s: drawn once
        clock.now += 0.001
        bar.add()
    assert out.getvalue().count("\r") == 1
    clock.now += 0.25
    bar.add(400)
    draws = out.getvalue().split("\r")[1:]
    assert len(draws) == 2 and draws[-1].startswith("rebuild jobs [")
    assert "500/1000" in draws[-1]
    bar.close()
    assert out.getvalue().endswith("\n")


def test_progress_is_silent_when_not_a_terminal_unless_forced() -> None:
    out = io.StringIO()  # isatty() is False
    bar = Progress("x", 10, stream=out)
    bar.add(10)
    bar.close()
    assert out.getvalue() == "" and bar.done == 10
    forced = Progress("x", 10, enabled=True, stream=out)
    forced.add(1)
    assert out.getvalue().startswith("\rx [")


def test_field_differences_descend_into_documents() -> None:
    live = {"_id": "j", "status": "done", "result": {"title": "A", "year": 2022}, "flag": True}
    rebuilt = {
        "_id": "j",
        "status": "done",
        "result": {"title": "B", "year": 2022},
        "flag": 1,
        "extra": None,
    }
    assert field_differences(live, rebuilt) == [
        "extra: live=<absent> rebuilt=None",
        "flag: live=True rebuilt=1",
        "result.title: live='A' rebuilt='B'",
    ]
    assert field_differences(live, dict(live)) == []
