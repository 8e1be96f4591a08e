"""Encode envelopes to JSON bytes and decode them back, upcasting old versions on read."""

from __future__ import annotations

import json
from typing import Any

from pydantic import ValidationError as PydanticValidationError

from streams.errors import ErrorCode, EventDecodeError
from streams.events.catalog import CATALOG, EventCatalog
from streams.events.envelope import Envelope, format_time, parse_time

_ENVELOPE_FIELDS = ("id", "type", "version", "occurredAt", "key", "data")
_OPTIONAL_FIELDS = ("correlationId", "causationId", "sequence")


def to_wire(event: Envelope) -> dict[str, Any]:
    """The envelope as a JSON-ready dict (camelCase), in a stable field order."""
    out: dict[str, Any] = {
        "id": event.id,
        "type": event.type,
        "version": event.version,
        "occurredAt": format_time(event.occurred_at),
        "key": event.key,
        "correlationId": event.correlation_id,
        "causationId": event.causation_id,
    }
    if event.sequence is not None:
        out["sequence"] = event.sequence
    out["data"] = event.payload()
    return out


def encode(event: Envelope) -> bytes:
    return json.dumps(to_wire(event), ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def decode(raw: bytes | bytearray | memoryview | None, catalog: EventCatalog = CATALOG) -> Envelope:
    """Decode one record value; raise EventDecodeError (with a code) for anything unusable."""
    if raw is None:
        raise EventDecodeError("record has no value (tombstone)")
    try:
        obj = json.loads(bytes(raw).decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise EventDecodeError(f"value is not UTF-8: {exc}") from exc
    except json.JSONDecodeError as exc:
        raise EventDecodeError(f"value is not JSON: {exc.msg} at {exc.pos}") from exc
    return decode_json(obj, catalog)


def decode_json(obj: Any, catalog: EventCatalog = CATALOG) -> Envelope:
    """An envelope from parsed JSON: check its fields, upcast its data, validate the payload."""
    etype, version = _envelope_fields(obj, catalog)
    data = obj["data"]
    if not isinstance(data, dict):
        raise EventDecodeError("envelope data must be a JSON object", code=ErrorCode.INVALID_EVENT)
    try:
        occurred_at = parse_time(obj["occurredAt"])
    except ValueError as exc:
        raise EventDecodeError(f"occurredAt: {exc}", code=ErrorCode.INVALID_EVENT) from exc
    data, version = _upcast(etype, version, data, catalog)
    payload = _payload(etype, version, data, catalog)
    sequence = obj.get("sequence")
    if sequence is not None and (not isinstance(sequence, int) or isinstance(sequence, bool)):
        raise EventDecodeError("envelope sequence must be an integer", code=ErrorCode.INVALID_EVENT)
    extra = {k: v for k, v in obj.items() if k not in _ENVELOPE_FIELDS + _OPTIONAL_FIELDS}
    return Envelope(
        id=obj["id"],
        type=etype,
        version=version,
        occurred_at=occurred_at,
        key=obj["key"],
        data=payload,
        correlation_id=obj.get("correlationId"),
        causation_id=obj.get("causationId"),
        sequence=sequence,
        extra=extra,
    )


def _envelope_fields(obj: Any, catalog: EventCatalog) -> tuple[str, int]:
    """The envelope's (type, version) once its required fields are there and well typed."""
    if not isinstance(obj, dict):
        raise EventDecodeError("envelope must be a JSON object")
    missing = [f for f in _ENVELOPE_FIELDS if f not in obj]
    if missing:
        raise EventDecodeError(f"envelope misses {', '.join(missing)}")
    etype, version = obj["type"], obj["version"]
    if not isinstance(etype, str) or not isinstance(version, int) or isinstance(version, bool):
        raise EventDecodeError("envelope type must be a string and version an integer")
    if not isinstance(obj["id"], str) or not obj["id"]:
        raise EventDecodeError("envelope id must be a non-empty string")
    if not isinstance(obj["key"], str):
        raise EventDecodeError("envelope key must be a string")
    latest = catalog.latest(etype)
    if latest is None:
        raise EventDecodeError(f"unknown event type {etype!r}", code=ErrorCode.UNKNOWN_EVENT)
    if catalog.spec(etype, version) is None:
        raise EventDecodeError(
            f"unknown version {version} of {etype} (latest known {latest})",
            code=ErrorCode.UNKNOWN_EVENT,
        )
    return etype, version


def _upcast(
    etype: str, version: int, data: dict[str, Any], catalog: EventCatalog
) -> tuple[dict[str, Any], int]:
    """Old versions upgraded one step at a time to the latest."""
    latest = catalog.latest(etype) or version
    while version < latest:
        upcaster = catalog.upcaster(etype, version)
        if upcaster is None:  # the catalog refuses to build without them; belt and braces
            raise EventDecodeError(f"no upcaster for {etype} v{version}")
        data = upcaster(data)
        version += 1
    return data, version


def _payload(etype: str, version: int, data: dict[str, Any], catalog: EventCatalog) -> Any:
    spec = catalog.spec(etype, version)
    if spec is None:  # an upcaster chain that ends on an uncataloged version
        raise EventDecodeError(f"no payload model for {etype} v{version}")
    try:
        return spec.model.model_validate(data)
    except PydanticValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'data'}: {e['msg']}" for e in exc.errors()[:5]
        )
        raise EventDecodeError(
            f"invalid {etype} v{version} payload: {problems}", code=ErrorCode.INVALID_EVENT
        ) from exc
