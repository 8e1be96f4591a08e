"""The event envelope every record on a public topic carries, and its time format."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel

Clock = Callable[[], datetime]
IdFactory = Callable[[], str]


def utc_now() -> datetime:
    return datetime.now(UTC)


def utc_ms(value: datetime) -> datetime:
    """The same instant, aware UTC, truncated to milliseconds (what the wire can carry)."""
    if value.tzinfo is None:
        raise ValueError("naive datetime: times must be timezone-aware")
    value = value.astimezone(UTC)
    return value.replace(microsecond=(value.microsecond // 1000) * 1000)


def format_time(value: datetime) -> str:
    """RFC 3339, UTC, milliseconds, `Z`: 2026-05-01T12:00:00.000Z."""
    value = utc_ms(value)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def parse_time(value: str) -> datetime:
    """Parse an RFC 3339 time with an offset or `Z` into an aware UTC datetime."""
    if not isinstance(value, str):
        raise ValueError(f"expected an RFC 3339 string, got {type(value).__name__}")
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        raise ValueError(f"time without an offset: {value!r}")
    return utc_ms(parsed)


def new_id() -> str:
    return str(uuid.uuid4())


@dataclass(frozen=True, slots=True)
class Envelope:
    """One event: who it is about (`key`), what happened (`type`/`version`/`data`), when, and why.

    `sequence` is the per-subject position where the writer knows it (jobs: the step number);
    `correlation_id` ties every event of one request together; `causation_id` names the event
    that caused this one.
    """

    id: str
    type: str
    version: int
    occurred_at: datetime
    key: str
    data: BaseModel
    correlation_id: str | None = None
    causation_id: str | None = None
    sequence: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def payload(self) -> dict[str, Any]:
        """The data as camelCase JSON-ready dict (what goes on the wire)."""
        return self.data.model_dump(mode="json", by_alias=True, exclude_none=False)


def new_event(
    data: BaseModel,
    *,
    key: str,
    event_type: str | None = None,
    correlation_id: str | None = None,
    causation_id: str | None = None,
    sequence: int | None = None,
    clock: Clock = utc_now,
    ids: IdFactory = new_id,
) -> Envelope:
    """Build an event of the latest version of its type; the type comes from the payload model."""
    from streams.events.catalog import CATALOG  # local: the catalog imports the envelope's helpers

    spec = CATALOG.spec_for_model(type(data))
    if event_type is not None and event_type != spec.event_type:
        raise ValueError(f"payload {type(data).__name__} is {spec.event_type}, not {event_type}")
    if spec.version != CATALOG.latest(spec.event_type):
        raise ValueError(f"writers write only the latest version of {spec.event_type}")
    return Envelope(
        id=ids(),
        type=spec.event_type,
        version=spec.version,
        occurred_at=utc_ms(clock()),
        key=key,
        data=data,
        correlation_id=correlation_id,
        causation_id=causation_id,
        sequence=sequence,
    )
