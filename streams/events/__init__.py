"""The event envelope, the catalog of (type, version) payloads, the codec and upcasters."""

from __future__ import annotations

from streams.events.catalog import CATALOG, EventCatalog
from streams.events.codec import decode, decode_json, encode, to_wire
from streams.events.envelope import Envelope, format_time, new_event, parse_time, utc_ms

__all__ = [
    "CATALOG",
    "Envelope",
    "EventCatalog",
    "decode",
    "decode_json",
    "encode",
    "format_time",
    "new_event",
    "parse_time",
    "to_wire",
    "utc_ms",
]
