"""Range bounds on a topic: `offset:N`, `time:<RFC 3339>`, or either one autodetected.

A bound cuts every partition of a topic at one log position:
- `offset:N` is offset N in every partition;
- `time:T` is, in each partition, the first record whose Kafka timestamp is at or after T
  (what Kafka's `offsets_for_times` answers). A lower bound keeps the records from there on,
  an upper bound (`--to`, `--until`) the records before it, so `--until T` is the log as a
  consumer had it just before T, even if a producer's clock put a later record's timestamp
  back before T.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from streams.errors import ValidationError
from streams.events import format_time, parse_time

_DIGITS = re.compile(r"^\d+$")


class RangeError(ValidationError):
    """A bound that cannot be parsed, or a range whose start is after its end."""


@dataclass(frozen=True, slots=True)
class OffsetBound:
    offset: int

    def label(self) -> str:
        return f"offset{self.offset}"

    def __str__(self) -> str:
        return f"offset:{self.offset}"


@dataclass(frozen=True, slots=True)
class TimeBound:
    at: datetime

    @property
    def millis(self) -> int:
        return int(self.at.timestamp() * 1000)

    def label(self) -> str:
        return self.at.strftime("%Y%m%dT%H%M%S") + f"{self.at.microsecond // 1000:03d}Z"

    def __str__(self) -> str:
        return f"time:{format_time(self.at)}"


Bound = OffsetBound | TimeBound


def _offset(text: str, raw: str) -> OffsetBound:
    if not _DIGITS.match(text):
        raise RangeError(f"bad offset {raw!r}: expected a non-negative integer")
    return OffsetBound(int(text))


def _time(text: str, raw: str) -> TimeBound:
    try:
        return TimeBound(parse_time(text))
    except ValueError as exc:
        raise RangeError(
            f"bad time {raw!r}: expected RFC 3339 with an offset, e.g. 2026-05-01T12:00:00Z ({exc})"
        ) from None


def parse_bound(raw: str) -> Bound:
    """`offset:N`, `time:T`, a bare integer (an offset) or a bare RFC 3339 time."""
    text = raw.strip()
    kind, sep, rest = text.partition(":")
    if sep and kind.lower() == "offset":
        return _offset(rest.strip(), raw)
    if sep and kind.lower() == "time":
        return _time(rest.strip(), raw)
    if _DIGITS.match(text):
        return OffsetBound(int(text))
    if not text:
        raise RangeError("empty bound: expected offset:N or time:<RFC 3339>")
    return _time(text, raw)


@dataclass(frozen=True, slots=True)
class Range:
    """`start` inclusive, `end` exclusive; None is the beginning / the end of the log."""

    start: Bound | None = None
    end: Bound | None = None

    def describe(self) -> str:
        return f"[{self.start or 'beginning'}, {self.end or 'end'})"


def parse_range(start: str | None, end: str | None) -> Range:
    """Both bounds parsed; the same kind of bound must not go backwards (an empty range is
    fine). A time and an offset are only comparable per partition, so they are not checked."""
    lo = parse_bound(start) if start is not None else None
    hi = parse_bound(end) if end is not None else None
    if isinstance(lo, OffsetBound) and isinstance(hi, OffsetBound) and lo.offset > hi.offset:
        raise RangeError(f"bad range: --from {lo} is after --to {hi}")
    if isinstance(lo, TimeBound) and isinstance(hi, TimeBound) and lo.at > hi.at:
        raise RangeError(f"bad range: --from {lo} is after --to {hi}")
    return Range(lo, hi)
