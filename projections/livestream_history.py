"""The `stream_history` read model: one document per (user, stream) participation, a pure fold."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from projections.store import Doc
from streams.events import Envelope
from streams.events.livestream import ROLE_RANK, ParticipantJoined, Role, StreamCreated, StreamStatus

# `_id` is `userId:liveStreamId`, so a user who joins a stream five times has one document (a
# repeated join through a channel already seen changes nothing, so it writes nothing). The
# best role wins (host > guest > audience) and picks the bucket the history lists read
# (`broadcasted` for host/guest, `watched` for audience). The stream's facts the lists filter and
# sort on (`endedAt`, `deleted`, `visible`) are copied in from the stream document: on every
# participation write, and into every participation of a stream when it ends or is deleted.

BROADCASTED = "broadcasted"
WATCHED = "watched"
# Events after which every participation of the stream gets the stream's facts again.
FACT_EVENTS = frozenset({"stream.ended", "stream.deleted"})
# The copied facts another write may change without moving a participation's position: a
# replace of a participation must find them as it read them (see projections.fold.Documents).
FACTS_CAS = ("endedAt", "deleted")


def history_id(user_id: str, live_stream_id: str) -> str:
    return f"{user_id}:{live_stream_id}"


def bucket_for(role: Role) -> str:
    return WATCHED if role is Role.AUDIENCE else BROADCASTED


@dataclass(frozen=True, slots=True)
class Participation:
    """Who took part in which stream, as what, when, and through which channel."""

    user_id: str
    live_stream_id: str
    role: Role
    at: datetime
    channel: str | None

    @property
    def doc_id(self) -> str:
        return history_id(self.user_id, self.live_stream_id)


def participation(event: Envelope) -> Participation | None:
    """A participant.joined, or the creator's own host participation carried by stream.created
    (the creator is the host from the moment the stream exists, joined or not)."""
    data = event.data
    if isinstance(data, ParticipantJoined):
        return Participation(data.user_id, data.live_stream_id, data.role, data.joined_at, data.channel)
    if isinstance(data, StreamCreated):
        return Participation(data.creator.id, data.live_stream_id, Role.HOST, data.created_at, None)
    return None


def facts(stream: Doc | None) -> Doc:
    """What a participation copies from its stream: listed only once ended and not deleted."""
    if stream is None:
        return {"endedAt": None, "deleted": False, "visible": False}
    ended = stream.get("status") == StreamStatus.ENDED.value and stream.get("endedAt") is not None
    deleted = bool(stream.get("deleted"))
    return {
        "endedAt": stream.get("endedAt") if ended else None,
        "deleted": deleted,
        "visible": ended and not deleted,
    }


def joined_facts(doc: Doc, facts: Doc) -> Doc:
    """The later of two copies of a stream's facts, whichever arrives last: an end is never
    undone (the earliest end time wins, as in the stream fold) and a delete never reverts."""
    ends = [t for t in (doc.get("endedAt"), facts["endedAt"]) if t is not None]
    ended_at = min(ends) if ends else None
    deleted = bool(doc.get("deleted")) or bool(facts["deleted"])
    return {"endedAt": ended_at, "deleted": deleted, "visible": ended_at is not None and not deleted}


def facts_to_copy(doc: Doc, facts: Doc) -> Doc | None:
    """The facts `doc` must take for it to show `facts` (joined with what it already shows),
    or None when it shows them already."""
    joined = joined_facts(doc, facts)
    return joined if any(doc.get(k) != v for k, v in joined.items()) else None


def fact_copies(live_stream_id: str, facts: Doc) -> list[tuple[Doc, Doc]]:
    """(filter, update) pairs that copy a stream's facts into all its participations and, like
    `joined_facts`, never undo a newer copy (a writer that lost a race cannot set a deleted
    stream visible again)."""
    ended, deleted = facts["endedAt"], facts["deleted"]
    ops: list[tuple[Doc, Doc]] = []
    if ended is not None:
        earlier = {"$or": [{"endedAt": None}, {"endedAt": {"$gt": ended}}]}
        ops.append(({"liveStreamId": live_stream_id, **earlier}, {"$set": {"endedAt": ended}}))
    if deleted:
        ops.append(({"liveStreamId": live_stream_id}, {"$set": {"deleted": True, "visible": False}}))
    elif ended is not None:
        ops.append(({"liveStreamId": live_stream_id, "deleted": {"$ne": True}}, {"$set": {"visible": True}}))
    return ops


def _best_role(current: str | None, new: Role) -> Role:
    if current is None:
        return new
    old = Role(current)
    return new if ROLE_RANK[new] > ROLE_RANK[old] else old


def apply(state: Doc | None, event: Envelope, stream: Doc | None) -> Doc | None:
    """Pure: the participation document of `participation(event)` after it, with the facts of
    `stream` (the stream document after the same event). Unchanged for other events."""
    who = participation(event)
    if who is None:
        return state
    doc: Doc = (
        dict(state)
        if state is not None
        else {
            "_id": who.doc_id,
            "userId": who.user_id,
            "liveStreamId": who.live_stream_id,
            "role": None,
            "bucket": None,
            "firstJoinedAt": None,
            "channels": [],
        }
    )
    doc.pop("position", None)
    role = _best_role(doc["role"], who.role)
    first = doc["firstJoinedAt"]
    channels = set(doc["channels"] or [])
    if who.channel is not None:
        channels.add(who.channel)
    doc.update(
        role=role.value,
        roleRank=ROLE_RANK[role],
        bucket=bucket_for(role),
        firstJoinedAt=who.at if first is None or who.at < first else first,
        channels=sorted(channels),
    )
    doc.update(facts(stream))
    return doc


def comparable(state: Doc | None) -> Doc | None:
    if state is None:
        return None
    return {k: v for k, v in state.items() if k != "position"}
