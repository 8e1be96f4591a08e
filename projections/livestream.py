"""The live-stream projection: `livestream.events` -> `live_streams` + `stream_history`.

`plan` is pure: given one event and the documents it touches, it says what to write. The
worker's handler (`livestream_handler`) reads those documents from MongoDB and executes the
plan; `MemoryModel` executes the same plan on dicts (unit tests, the benchmark's reference).

Write order is part of the design: participation documents first, the stream document last.
So once a stream document shows an end or a delete, every participation already shows it
too (the gateway's read-your-writes waits on the stream document), and a crash between the
writes is repaired by the redelivery, because every write is recomputed, not incremented.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError, PyMongoError

from projections import livestream_history as history
from projections import livestream_streams as streams
from projections.store import Doc, MongoStore, mongo_errors, translate
from streams.errors import AppError, ErrorCode, UnavailableError
from streams.events import Envelope
from streams.pipeline import Handler, RecordMeta

LIVESTREAM_TYPES = frozenset({
    "stream.created", "stream.updated", "stream.started", "stream.ended", "stream.deleted",
    "participant.joined",
})


@dataclass(frozen=True, slots=True)
class Plan:
    """What one event changes. `stream`/`participation` are None when unchanged (`*_is_new`
    when there was no document: an insert, cheaper than a replace); `sync` is the facts every
    participation of the stream must carry (ended/deleted events only)."""

    live_stream_id: str
    stream: Doc | None = None
    participation: Doc | None = None
    sync: Doc | None = None
    stream_is_new: bool = False
    participation_is_new: bool = False


def stream_id_of(event: Envelope) -> str | None:
    if event.type not in LIVESTREAM_TYPES:
        return None
    live_stream_id: str = event.data.live_stream_id  # type: ignore[attr-defined]
    if event.key != live_stream_id:
        # The key decides the partition, so the per-stream order; a mismatch is a writer bug.
        raise AppError(f"{event.type} key {event.key!r} is not its liveStreamId {live_stream_id!r}",
                       code=ErrorCode.INVALID_EVENT)
    return live_stream_id


def participation_id(event: Envelope) -> str | None:
    who = history.participation(event)
    return who.doc_id if who is not None else None


def plan(event: Envelope, stream_state: Doc | None, participation_state: Doc | None) -> Plan | None:
    """Pure: the writes `event` needs, given the stream's document and (when the event is a
    participation) the participation's document as they are now."""
    live_stream_id = stream_id_of(event)
    if live_stream_id is None:
        return None
    old = streams.comparable(stream_state)
    new = streams.apply(old, event)
    old_part = history.comparable(participation_state)
    new_part = history.apply(old_part, event, new)
    return Plan(
        live_stream_id=live_stream_id,
        stream=new if new != old else None,
        participation=new_part if new_part is not None and new_part != old_part else None,
        sync=history.facts(new) if event.type in history.FACT_EVENTS else None,
        stream_is_new=stream_state is None,
        participation_is_new=participation_state is None,
    )


def livestream_handler(store: MongoStore) -> Handler:
    """The worker's handler: read, plan, write (participations first, the stream last)."""

    async def handle(event: Envelope, meta: RecordMeta) -> None:
        live_stream_id = stream_id_of(event)
        if live_stream_id is None:
            return
        part_id = participation_id(event)
        async with mongo_errors("read live stream"):
            stream_state = await store.streams.find_one({"_id": live_stream_id})
            part_state = (await store.history.find_one({"_id": part_id})
                          if part_id is not None else None)
        todo = plan(event, stream_state, part_state)
        if todo is None:
            return
        if todo.participation is not None:
            await _put(store.history, todo.participation, todo.participation_is_new)
        if todo.sync is not None:
            async with mongo_errors("write stream history"):
                await store.history.update_many({"liveStreamId": live_stream_id},
                                                {"$set": todo.sync})
        if todo.stream is not None:
            doc = {**todo.stream, "position": {"partition": meta.partition, "offset": meta.offset}}
            await _put(store.streams, doc, todo.stream_is_new)

    return handle


async def _put(collection: AsyncCollection[Doc], doc: Doc, is_new: bool) -> None:
    """Insert a document that did not exist when it was read, else replace it whole."""
    what = f"write {collection.name}"
    try:
        if is_new:
            await collection.insert_one(doc)
        else:
            await collection.replace_one({"_id": doc["_id"]}, doc, upsert=True)
    except DuplicateKeyError as exc:
        # Someone wrote it between our read and our insert (only while a rebalance hands the
        # partition over): retryable, so the pipeline runs the handler again on fresh reads.
        raise UnavailableError(f"{what}: {doc['_id']} appeared concurrently") from exc
    except PyMongoError as exc:
        raise translate(exc, what) from exc


@dataclass
class MemoryModel:
    """The same projection over dicts: what the documents must be after a list of events."""

    streams: dict[str, Doc] = field(default_factory=dict)
    history: dict[str, Doc] = field(default_factory=dict)

    def apply(self, event: Envelope) -> None:
        live_stream_id = stream_id_of(event)
        if live_stream_id is None:
            return
        part_id = participation_id(event)
        todo = plan(event, self.streams.get(live_stream_id),
                    self.history.get(part_id) if part_id is not None else None)
        if todo is None:
            return
        if todo.participation is not None:
            self.history[todo.participation["_id"]] = todo.participation
        if todo.sync is not None:
            for key, doc in self.history.items():
                if doc["liveStreamId"] == live_stream_id:
                    self.history[key] = {**doc, **todo.sync}
        if todo.stream is not None:
            self.streams[live_stream_id] = todo.stream

    def apply_all(self, events: list[Envelope]) -> MemoryModel:
        for event in events:
            self.apply(event)
        return self
