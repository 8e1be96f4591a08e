"""The `live_streams` read model: one document per stream, a pure fold of `livestream.events`."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from projections.store import Doc
from streams.events import Envelope, format_time
from streams.events.livestream import (
    ParticipantJoined,
    Role,
    StreamCreated,
    StreamDeleted,
    StreamEnded,
    StreamStarted,
    StreamStatus,
    StreamUpdated,
    StreamView,
)

# The fold is a join-semilattice, so it gives the same document whatever the delivery: an event
# applied once or five times, in log order or not. Lifecycle times only move one way (the first
# start/end/delete wins: `min`), the status is derived from them, descriptive fields are
# last-writer-wins on (event time, event id). Times come from the events, never from a clock.

STREAM_EVENTS = (StreamCreated, StreamUpdated, StreamStarted, StreamEnded, StreamDeleted, ParticipantJoined)
# Fields a stream.updated may change, each with its own (time, kind, event id) version.
UPDATABLE = ("title", "thumbnailUrl", "recordingUrl", "motivation")
_CREATED, _UPDATED = 0, 1
# Not part of the DTO: bookkeeping of the fold and of the worker.
INTERNAL = frozenset(
    {"_id", "known", "versions", "lastUpdateAt", "deleted", "deletedAt", "deletedBy", "position"}
)


def _empty(live_stream_id: str) -> Doc:
    """A stream we know only by id (an event other than stream.created came first)."""
    return {
        "_id": live_stream_id,
        "known": False,
        "title": None,
        "liveStreamType": None,
        "channelName": None,
        "broadcasters": [],
        "guests": [],
        "creator": None,
        "thumbnailUrl": None,
        "recording": False,
        "recordingUrl": None,
        "status": StreamStatus.CREATED.value,
        "accessType": "free",
        "price": 0,
        "interest": None,
        "durationGoal": None,
        "motivation": None,
        "startedAt": None,
        "plannedStartDate": None,
        "endedAt": None,
        "plannedEndDate": None,
        "createdAt": None,
        "updatedAt": None,
        "lastUpdateAt": None,
        "deleted": False,
        "deletedAt": None,
        "deletedBy": None,
        "versions": {},
    }


def _earliest(current: datetime | None, candidate: datetime) -> datetime:
    return candidate if current is None or candidate < current else current


def _version(raw: Any) -> tuple[Any, ...] | None:
    return tuple(raw) if raw else None


def _take(doc: Doc, name: str, value: Any, version: list[Any]) -> None:
    """Set `name` if `version` is newer than the one that set it last (ties: the event id)."""
    versions: dict[str, Any] = doc["versions"]
    current = _version(versions.get(name))
    if current is None or tuple(version) > current:
        doc[name] = value
        versions[name] = version


def _apply_created(doc: Doc, event: Envelope, data: StreamCreated) -> None:
    # Two different stream.created for one id would be a writer bug; the earliest one wins.
    marker = [data.created_at, event.id]
    current = _version(doc["versions"].get("created"))
    if current is not None and tuple(marker) >= current:
        return
    doc["versions"]["created"] = marker
    doc.update(
        known=True,
        liveStreamType=data.live_stream_type,
        channelName=data.channel_name,
        guests=list(data.guests),
        creator=data.creator.model_dump(mode="python", by_alias=True),
        recording=data.recording,
        accessType=data.access_type,
        price=data.price,
        interest=data.interest,
        durationGoal=data.duration_goal,
        plannedStartDate=data.planned_start_date,
        plannedEndDate=data.planned_end_date,
        createdAt=data.created_at,
    )
    version = [data.created_at, _CREATED, event.id]
    for name, value in (
        ("title", data.title),
        ("thumbnailUrl", data.thumbnail_url),
        ("motivation", data.motivation),
    ):
        _take(doc, name, value, version)


def _apply_updated(doc: Doc, event: Envelope, data: StreamUpdated) -> None:
    version = [data.updated_at, _UPDATED, event.id]
    values = {
        "title": data.title,
        "thumbnailUrl": data.thumbnail_url,
        "recordingUrl": data.recording_url,
        "motivation": data.motivation,
    }
    for name in UPDATABLE:
        if values[name] is not None:  # None means "unchanged" in stream.updated
            _take(doc, name, values[name], version)
    last = doc.get("lastUpdateAt")
    doc["lastUpdateAt"] = data.updated_at if last is None or data.updated_at > last else last


def _derive(doc: Doc) -> None:
    """Status and updatedAt follow from the facts, so they cannot depend on the order."""
    if doc["endedAt"] is not None:
        status = StreamStatus.ENDED
    elif doc["startedAt"] is not None:
        status = StreamStatus.LIVE
    elif doc["plannedStartDate"] is not None:
        status = StreamStatus.SCHEDULED
    else:
        status = StreamStatus.CREATED
    doc["status"] = status.value
    times = [
        doc[k]
        for k in ("createdAt", "lastUpdateAt", "startedAt", "endedAt", "deletedAt")
        if doc.get(k) is not None
    ]
    doc["updatedAt"] = max(times) if times else None


def apply(state: Doc | None, event: Envelope) -> Doc | None:
    """Pure: the stream document after `event` (`state` itself when it is unchanged)."""
    data = event.data
    if not isinstance(data, STREAM_EVENTS):
        return state
    if (
        state is not None
        and isinstance(data, ParticipantJoined)
        and (data.role is not Role.GUEST or data.user_id in state["broadcasters"])
    ):
        return state  # most events of a stream are joins that change nothing in it: no copy
    doc: Doc = _copy(state) if state is not None else _empty(data.live_stream_id)
    if isinstance(data, StreamCreated):
        _apply_created(doc, event, data)
    elif isinstance(data, StreamUpdated):
        _apply_updated(doc, event, data)
    elif isinstance(data, StreamStarted):
        doc["startedAt"] = _earliest(doc["startedAt"], data.started_at)
    elif isinstance(data, StreamEnded):
        doc["endedAt"] = _earliest(doc["endedAt"], data.ended_at)
    elif isinstance(data, StreamDeleted):
        if doc["deletedAt"] is None or data.deleted_at < doc["deletedAt"]:
            doc.update(deletedAt=data.deleted_at, deletedBy=data.deleted_by)
        doc["deleted"] = True
    elif data.role is Role.GUEST and data.user_id not in doc["broadcasters"]:
        # Named guests who actually went on air; sorted so the order of joins does not matter.
        doc["broadcasters"] = sorted([*doc["broadcasters"], data.user_id])
    _derive(doc)
    return doc


def _copy(state: Doc) -> Doc:
    doc = {k: v for k, v in state.items() if k != "position"}
    doc["versions"] = {k: list(v) for k, v in (state.get("versions") or {}).items()}
    doc["broadcasters"] = list(state.get("broadcasters") or [])
    return doc


def comparable(state: Doc | None) -> Doc | None:
    """The document without the worker's bookkeeping, to tell whether a fold changed it."""
    return _copy(state) if state is not None else None


# -- what the rest of the system sees of a document ------------------------------------------
def view_of(doc: Doc) -> StreamView:
    """The command rules' typed view of a stream document."""
    creator = doc.get("creator") or {}
    creator_id = creator.get("_id") if isinstance(creator, dict) else None
    return StreamView(
        id=doc["_id"],
        status=StreamStatus(doc["status"]),
        deleted=bool(doc.get("deleted")),
        creator_id=creator_id if isinstance(creator_id, str) else None,
        guests=tuple(doc.get("guests") or ()),
        started_at=doc.get("startedAt"),
        ended_at=doc.get("endedAt"),
        deleted_at=doc.get("deletedAt"),
    )


# The wire shape (the seed's LiveStreamResponseDto).
def _time(value: datetime | None) -> str | None:
    return format_time(value) if value is not None else None


def to_dto(doc: Doc, role: str | None) -> dict[str, Any]:
    """Every field of the seed's example, in its order, plus `role`; JSON-ready."""
    creator = doc.get("creator")
    return {
        "id": doc["_id"],
        "title": doc.get("title"),
        "liveStreamType": doc.get("liveStreamType"),
        "channelName": doc.get("channelName"),
        "broadcasters": list(doc.get("broadcasters") or []),
        "guests": list(doc.get("guests") or []),
        "creator": {
            "_id": creator.get("_id"),
            "username": creator.get("username"),
            "name": creator.get("name"),
            "surname": creator.get("surname"),
            "profilePhoto": creator.get("profilePhoto"),
        }
        if creator
        else None,
        "thumbnailUrl": doc.get("thumbnailUrl"),
        "recording": bool(doc.get("recording")),
        "recordingUrl": doc.get("recordingUrl"),
        "status": doc.get("status"),
        "accessType": doc.get("accessType"),
        "price": _price(doc.get("price")),
        "interest": doc.get("interest"),
        "durationGoal": doc.get("durationGoal"),
        "motivation": doc.get("motivation"),
        # Replay and funding are not modelled here; the seed's contract still carries them.
        "isActiveReplayOnCreatorProfile": None,
        "replayCreditPrice": None,
        "startedAt": _time(doc.get("startedAt")),
        "plannedStartDate": _time(doc.get("plannedStartDate")),
        "endedAt": _time(doc.get("endedAt")),
        "plannedEndDate": _time(doc.get("plannedEndDate")),
        "createdAt": _time(doc.get("createdAt")),
        "updatedAt": _time(doc.get("updatedAt")),
        "fundingGoal": None,
        "collectedFunding": None,
        "fundingPercentage": None,
        "role": role,
        "miniCrowdFundings": [],
    }


def _price(value: Any) -> int | float:
    """0 rather than 0.0 on the wire (as in the seed) when the price is whole."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value if isinstance(value, int | float) else 0
