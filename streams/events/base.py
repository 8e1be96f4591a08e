"""The base of every payload model: camelCase on the wire, snake_case in Python, tolerant reads."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, PlainSerializer
from pydantic.alias_generators import to_camel

from streams.events.envelope import format_time, parse_time, utc_ms


def _to_utc(value: object) -> datetime:
    if isinstance(value, datetime):
        return utc_ms(value)
    if isinstance(value, str):
        return parse_time(value)
    raise ValueError("expected an RFC 3339 time")


# Aware UTC time, milliseconds, serialised as 2026-05-01T12:00:00.000Z.
UtcTime = Annotated[
    datetime,
    BeforeValidator(_to_utc),
    PlainSerializer(format_time, return_type=str, when_used="json"),
]


class Payload(BaseModel):
    """Event payloads: camelCase JSON, unknown fields ignored (a newer writer may add optional ones)."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="ignore",
        frozen=True,
        str_strip_whitespace=False,
    )
