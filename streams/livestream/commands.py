"""Pure live-stream command rules: create body -> StreamCreated, who may start/end/delete/join."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any, get_args
from urllib.parse import urlsplit

from streams.errors import ConflictError, ErrorCode, ForbiddenError, NotFoundError, ValidationError
from streams.events.envelope import parse_time
from streams.events.livestream import (
    STARTABLE,
    AccessType,
    StreamCreated,
    StreamStatus,
    StreamType,
    StreamView,
    UserProfile,
)

# No I/O here: the gateway reads the stream's `StreamView` from the read side, asks these
# functions, and appends the event they allow. Decisions (see docs/livestream.md):
# - `accessType: paid` needs `price > 0`; `free` needs `price` 0 (or absent).
# - start only from `created`/`scheduled`; end only from `live` (a stream that never went live is
#   deleted, not ended); delete from any status; join from any status but `ended`.
# - every command on a soft-deleted stream is a 409 CONFLICT (a GET of it is a 404).

_OBJECT_ID = re.compile(r"[0-9a-fA-F]{24}")

MAX_TITLE = 200
MAX_CHANNEL_NAME = 200
MAX_INTEREST = 100
MAX_MOTIVATION = 1000
MAX_URL = 2048
MAX_GUESTS = 20
MAX_PRICE = 1_000_000
MAX_DURATION_GOAL = 10_000_000

STREAM_TYPES: tuple[str, ...] = get_args(StreamType)
ACCESS_TYPES: tuple[str, ...] = get_args(AccessType)
CREATE_FIELDS = frozenset(
    {
        "title",
        "liveStreamType",
        "channelName",
        "accessType",
        "price",
        "interest",
        "guests",
        "plannedStartDate",
        "plannedEndDate",
        "durationGoal",
        "motivation",
        "thumbnailUrl",
        "recording",
    }
)


def is_object_id(value: object) -> bool:
    """A 24-hex MongoDB ObjectId string (either case; callers store it lower-cased)."""
    return isinstance(value, str) and _OBJECT_ID.fullmatch(value) is not None


def parse_object_id(value: object, name: str) -> str:
    if not isinstance(value, str) or not is_object_id(value):
        raise ValidationError(f"{name} must be a 24-hex id")
    return value.lower()


class _Problems:
    """Collects every problem of one body, so the client hears about all of them at once."""

    def __init__(self) -> None:
        self.fields: dict[str, str] = {}

    def add(self, name: str, message: str) -> None:
        self.fields.setdefault(name, message)

    def raise_if_any(self, what: str) -> None:
        if not self.fields:
            return
        problems = [f"{name}: {message}" for name, message in self.fields.items()]
        raise ValidationError(
            f"invalid {what}: " + "; ".join(problems),
            details={"problems": problems, "fields": dict(self.fields)},
        )


def _text(body: Mapping[str, Any], name: str, p: _Problems, *, required: bool, max_len: int) -> str | None:
    value = body.get(name)
    if value is None:
        if required:
            p.add(name, "is required")
        return None
    if not isinstance(value, str):
        p.add(name, "must be a string")
        return None
    value = value.strip()
    if not value:
        if required:
            p.add(name, "must not be empty")
        return None
    if len(value) > max_len:
        p.add(name, f"must be at most {max_len} characters")
        return None
    return value


def _choice(
    body: Mapping[str, Any], name: str, choices: tuple[str, ...], p: _Problems, default: str | None = None
) -> str | None:
    value = body.get(name)
    if value is None:
        if default is None:
            p.add(name, f"is required (one of {', '.join(choices)})")
        return default
    if value not in choices:
        p.add(name, f"must be one of {', '.join(choices)}")
        return None
    return str(value)


def _time(body: Mapping[str, Any], name: str, p: _Problems) -> datetime | None:
    value = body.get(name)
    if value is None:
        return None
    try:
        return parse_time(value)
    except ValueError:
        p.add(name, "must be an RFC 3339 time with an offset, e.g. 2026-05-01T12:00:00.000Z")
        return None


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _price(body: Mapping[str, Any], access: str | None, p: _Problems) -> float:
    raw = body.get("price")
    price = 0.0 if raw is None else _number(raw)
    if price is None:
        p.add("price", "must be a number")
        return 0.0
    if price < 0 or price > MAX_PRICE:
        p.add("price", f"must be between 0 and {MAX_PRICE}")
    elif access == "paid" and price <= 0:
        p.add("price", "must be greater than 0 for a paid stream")
    elif access == "free" and price != 0:
        p.add("price", "must be 0 for a free stream")
    return price


def _guests(body: Mapping[str, Any], creator_id: str, p: _Problems) -> list[str]:
    raw = body.get("guests")
    if raw is None:
        return []
    if not isinstance(raw, list):
        p.add("guests", "must be a list of user ids")
        return []
    out: list[str] = []
    for index, item in enumerate(raw):
        if not is_object_id(item):
            p.add("guests", f"item {index} is not a 24-hex user id")
            return []
        guest = str(item).lower()
        if guest == creator_id.lower():
            p.add("guests", "must not name the creator (the creator is the host)")
            return []
        if guest not in out:
            out.append(guest)
    if len(out) > MAX_GUESTS:
        p.add("guests", f"must name at most {MAX_GUESTS} users")
        return []
    return out


def _url(body: Mapping[str, Any], name: str, p: _Problems) -> str | None:
    value = _text(body, name, p, required=False, max_len=MAX_URL)
    if value is None:
        return None
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        p.add(name, "must be an http(s) URL")
        return None
    return value


def validate_create(
    body: Mapping[str, Any], *, live_stream_id: str, creator: UserProfile, now: datetime
) -> StreamCreated:
    """The StreamCreated a create request stands for, or one ValidationError naming every field."""
    p = _Problems()
    for name in sorted(set(body) - CREATE_FIELDS):
        p.add(name, "is not a known field")
    title = _text(body, "title", p, required=True, max_len=MAX_TITLE)
    stream_type = _choice(body, "liveStreamType", STREAM_TYPES, p)
    channel = _text(body, "channelName", p, required=True, max_len=MAX_CHANNEL_NAME)
    access = _choice(body, "accessType", ACCESS_TYPES, p, default="free")
    price = _price(body, access, p)
    interest = _text(body, "interest", p, required=False, max_len=MAX_INTEREST)
    guests = _guests(body, creator.id, p)
    start = _time(body, "plannedStartDate", p)
    end = _time(body, "plannedEndDate", p)
    if start is not None and end is not None and end <= start:
        p.add("plannedEndDate", "must be after plannedStartDate")
    goal = body.get("durationGoal")
    if goal is not None and (
        isinstance(goal, bool) or not isinstance(goal, int) or not 0 <= goal <= MAX_DURATION_GOAL
    ):
        p.add("durationGoal", f"must be an integer between 0 and {MAX_DURATION_GOAL}")
        goal = None
    motivation = _text(body, "motivation", p, required=False, max_len=MAX_MOTIVATION)
    thumbnail = _url(body, "thumbnailUrl", p)
    recording = body.get("recording", False)
    if recording is None:
        recording = False
    if not isinstance(recording, bool):
        p.add("recording", "must be true or false")
        recording = False
    p.raise_if_any("live stream")
    if title is None or channel is None or stream_type is None:  # raise_if_any reported them
        raise ValidationError("title, channelName and liveStreamType are required")
    return StreamCreated(
        live_stream_id=live_stream_id,
        title=title,
        live_stream_type=stream_type,  # type: ignore[arg-type]  # checked against STREAM_TYPES
        channel_name=channel,
        access_type=access,  # type: ignore[arg-type]  # checked against ACCESS_TYPES
        price=price,
        interest=interest,
        guests=guests,
        creator=creator,
        planned_start_date=start,
        planned_end_date=end,
        duration_goal=goal,
        motivation=motivation,
        thumbnail_url=thumbnail,
        recording=recording,
        created_at=now,
    )


# -- rules over a stream's view ---------------------------------------------------------------
def require_stream(stream: StreamView | None, live_stream_id: str) -> StreamView:
    if stream is None:
        raise NotFoundError(f"live stream {live_stream_id} does not exist", code=ErrorCode.STREAM_NOT_FOUND)
    return stream


def _usable(stream: StreamView | None, live_stream_id: str, action: str) -> StreamView:
    found = require_stream(stream, live_stream_id)
    if found.deleted:
        raise ConflictError(f"live stream {live_stream_id} is deleted: cannot {action} it")
    return found


def _creator_only(stream: StreamView, user_id: str, live_stream_id: str, action: str) -> None:
    if user_id != stream.creator_id:
        raise ForbiddenError(f"only the creator of live stream {live_stream_id} may {action} it")


def check_start(stream: StreamView | None, user_id: str, live_stream_id: str) -> None:
    _check_step(
        stream,
        user_id,
        live_stream_id,
        "start",
        STARTABLE,
        "only a created or scheduled stream can be started",
    )


def check_end(stream: StreamView | None, user_id: str, live_stream_id: str) -> None:
    _check_step(
        stream,
        user_id,
        live_stream_id,
        "end",
        frozenset({StreamStatus.LIVE}),
        "only a live stream can be ended (delete a stream that never went live)",
    )


def _check_step(
    stream: StreamView | None,
    user_id: str,
    live_stream_id: str,
    action: str,
    allowed: frozenset[StreamStatus],
    rule: str,
) -> None:
    """A creator-only lifecycle step, allowed from the statuses in `allowed`."""
    found = _usable(stream, live_stream_id, action)
    _creator_only(found, user_id, live_stream_id, action)
    if found.status not in allowed:
        raise ConflictError(f"live stream {live_stream_id} is {found.status}: {rule}")


def check_delete(stream: StreamView | None, user_id: str, live_stream_id: str) -> None:
    found = _usable(stream, live_stream_id, "delete")
    _creator_only(found, user_id, live_stream_id, "delete")


def check_join(stream: StreamView | None, live_stream_id: str) -> StreamView:
    found = _usable(stream, live_stream_id, "join")
    if found.status is StreamStatus.ENDED:
        raise ConflictError(f"live stream {live_stream_id} has ended: it cannot be joined")
    return found
