"""The live-stream projection: `livestream.events` -> `live_streams` + `stream_history`.

`plan` is pure: given one event and the documents it touches, it says what to write. The
worker's projector (`LivestreamFold`) reads those documents for a whole batch and executes the
plans; tests/livestream_model.py executes the same plans on dicts (tests, the benchmark).

Write order is part of the design: participation documents first, the stream document last.
So once a stream document shows an end or a delete, every participation already shows it
too (the gateway's read-your-writes waits on the stream document), and a crash between the
writes is repaired by the redelivery, because every write is recomputed, not incremented.
"""

from __future__ import annotations

from dataclasses import dataclass

from pymongo import UpdateMany
from pymongo.asynchronous.collection import AsyncCollection

from projections import livestream_history as history
from projections import livestream_streams as streams
from projections.fold import POSITION, Documents, advance, applied, reject
from projections.store import Doc, MongoStore, mongo_errors
from streams.consume import Batch, RecordMeta, Rejected, RejectSink
from streams.errors import AppError, ErrorCode
from streams.events import Envelope

LIVESTREAM_TYPES = frozenset(
    {
        "stream.created",
        "stream.updated",
        "stream.started",
        "stream.ended",
        "stream.deleted",
        "participant.joined",
    }
)


@dataclass(frozen=True, slots=True)
class Plan:
    """What one event changes. `stream`/`participation` are None when unchanged; `sync` is the
    facts every participation of the stream must carry (ended/deleted events only)."""

    live_stream_id: str
    stream: Doc | None = None
    participation: Doc | None = None
    sync: Doc | None = None


def stream_id_of(event: Envelope) -> str | None:
    if event.type not in LIVESTREAM_TYPES:
        return None
    live_stream_id: str = event.data.live_stream_id  # type: ignore[attr-defined]
    if event.key != live_stream_id:
        # The key decides the partition, so the per-stream order; a mismatch is a writer bug.
        raise AppError(
            f"{event.type} key {event.key!r} is not its liveStreamId {live_stream_id!r}",
            code=ErrorCode.INVALID_EVENT,
        )
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
    new = streams.apply(stream_state, event)
    changed = new is not stream_state and new != streams.comparable(stream_state)
    old_part = history.comparable(participation_state)
    new_part = history.apply(old_part, event, new)
    return Plan(
        live_stream_id=live_stream_id,
        stream=new if changed else None,
        participation=new_part if new_part is not None and new_part != old_part else None,
        sync=history.facts(new) if event.type in history.FACT_EVENTS else None,
    )


@dataclass
class LivestreamFold:
    """The projector of `livestream.events`: one batch, read once, written once per collection.

    Participations are written first (one bulk write; those of ended or deleted streams already
    carry the stream's facts), then the facts are copied into the stored participations of the
    streams that still lack them (`_stale_streams`, `copy_facts`: monotone, so a writer that lost
    a rebalance race cannot undo them), then the stream documents. A crash anywhere in between is
    repaired by the redelivery: a document skips what its position says it has applied; the
    stream document (written last) has not, so its facts are copied again (values, not counters).
    """

    store: MongoStore
    skip_applied: bool = True

    async def __call__(self, batch: Batch, rejects: RejectSink) -> None:
        rejected: Rejected = []
        items: list[tuple[int, str, str | None, Envelope, RecordMeta]] = []
        for index, (event, meta) in enumerate(batch):
            try:
                live_stream_id = stream_id_of(event)
            except Exception as exc:  # noqa: BLE001 - one bad event must not sink the batch
                reject(rejected, index, event, exc)
                continue
            if live_stream_id is not None:
                items.append((index, live_stream_id, participation_id(event), event, meta))
        if not items:
            await rejects(rejected)
            return
        stream_docs = Documents(await self.store.streams())
        part_docs = Documents(await self.store.history(), cas=(POSITION, *history.FACTS_CAS))
        await stream_docs.load(sid for _, sid, _, _, _ in items)
        await part_docs.load(pid for _, _, pid, _, _ in items if pid is not None)
        synced: dict[str, Doc] = {}
        for index, sid, pid, event, meta in items:
            stream_state = stream_docs.get(sid)
            part_state = part_docs.get(pid) if pid is not None else None
            stream_done = self.skip_applied and applied(stream_state, meta)
            part_done = pid is None or (self.skip_applied and applied(part_state, meta))
            if stream_done and part_done:
                continue
            try:
                todo = plan(event, stream_state, part_state)
            except Exception as exc:  # noqa: BLE001 - dead-letter this event, fold the rest
                reject(rejected, index, event, exc)
                continue
            if todo is None:
                continue
            if pid is not None and todo.participation is not None and not part_done:
                part_docs.put(pid, {**todo.participation, POSITION: advance(part_state, meta)})
            if stream_done:
                continue
            if todo.sync is not None:
                synced[sid] = todo.sync
            if todo.stream is not None:
                stream_docs.put(sid, {**todo.stream, POSITION: advance(stream_state, meta)})
        for key, doc in list(part_docs.current.items()):  # the batch's own: final facts now
            if doc is None:
                continue
            facts = synced.get(doc["liveStreamId"])
            copy = history.facts_to_copy(doc, facts) if facts is not None else None
            if copy is not None:
                part_docs.put(key, {**doc, **copy})
        stale = await _stale_streams(part_docs, synced) if synced else []
        await rejects(rejected)  # before the writes: see streams.consume.RejectSink
        await part_docs.write()
        await copy_facts(part_docs.collection, {sid: synced[sid] for sid in stale})
        await stream_docs.write()


async def copy_facts(coll: AsyncCollection[Doc], facts_by_stream: dict[str, Doc]) -> None:
    """One ordered bulk write of the monotone fact copies of these streams."""
    ops = [
        UpdateMany(where, update)
        for sid, facts in facts_by_stream.items()
        for where, update in history.fact_copies(sid, facts)
    ]
    if not ops:
        return
    async with mongo_errors(f"write {coll.name}"):
        await coll.bulk_write(ops, ordered=True)


async def _stale_streams(part_docs: Documents, synced: dict[str, Doc]) -> list[str]:
    """The streams among `synced` with a stored participation outside this batch whose facts
    differ (one indexed query, small projection): only those need an `update_many`. Most
    streams end in the batch that folded their joins, whose documents carry the facts already."""
    coll = part_docs.collection
    fields = {"liveStreamId": 1, **{k: 1 for facts in synced.values() for k in facts}}
    stale: dict[str, None] = {}
    async with mongo_errors(f"read {coll.name}"):
        async for doc in coll.find({"liveStreamId": {"$in": list(synced)}}, fields):
            sid = doc["liveStreamId"]
            if sid in stale or doc["_id"] in part_docs.current:
                continue
            if history.facts_to_copy(doc, synced[sid]) is not None:
                stale[sid] = None
    return list(stale)
