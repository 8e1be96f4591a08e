"""The one write path of the read models: fold a batch with a pure `apply`, write it once.

The worker's agents and `rebuild` both hand a batch of (event, log position) pairs to a
projector. It reads every document the batch touches in one query per collection, folds the
events in log order with the read model's pure `apply`, and writes what changed with one
`bulk_write` per collection; only then does the caller let the offsets commit.

Exactly-once effect on at-least-once delivery: every document records the log position
(`topic`, `partition`, `offset`) it has applied up to, as pyeventsourcing's tracking records do.
An event at or below that position is skipped, so a batch redelivered after a crash (written,
not yet committed) changes nothing. All events of one document share a key, hence a partition,
so one offset per document is enough.

Writes are compare-and-set on that position (a replace matches only the version that was read;
a new document is an insert), so two consumers that briefly own one partition during a
rebalance cannot overwrite each other: the loser gets a retryable conflict and refolds.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from pymongo import InsertOne, ReplaceOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError, PyMongoError

from projections.store import Doc, mongo_errors, translate
from streams import logs
from streams.consume import Batch, RecordMeta, Rejected, RejectSink
from streams.errors import AppError, ErrorCode, WriteConflictError
from streams.events import Envelope

log = logging.getLogger(__name__)

POSITION = "position"
DUPLICATE_KEY = 11000

Apply = Callable[[Doc | None, Envelope], Doc | None]
Projector = Callable[[Batch, RejectSink], Awaitable[None]]


def position_of(meta: RecordMeta) -> Doc:
    return {"topic": meta.topic, "partition": meta.partition, "offset": meta.offset}


def _position_in_partition(doc: Doc | None, meta: RecordMeta) -> int | None:
    """The offset `doc` has applied up to in `meta`'s partition, or None (never, or another
    partition). Documents written before positions named their topic count as this topic's."""
    pos = doc.get(POSITION) if doc is not None else None
    if not isinstance(pos, dict):
        return None
    if pos.get("topic", meta.topic) != meta.topic or pos.get("partition") != meta.partition:
        return None
    return int(pos.get("offset", -1))


def applied(doc: Doc | None, meta: RecordMeta) -> bool:
    """True when `doc` already reflects the record at `meta`."""
    offset = _position_in_partition(doc, meta)
    return offset is not None and offset >= meta.offset


def advance(doc: Doc | None, meta: RecordMeta) -> Doc:
    """The position after applying `meta` to `doc`: never moves back within a partition (a
    catch-up may re-apply an earlier record, see `skip_applied`)."""
    offset = _position_in_partition(doc, meta)
    position = position_of(meta)
    if offset is not None and offset > meta.offset:
        position["offset"] = offset
    return position


def reject(rejected: Rejected, index: int, event: Envelope, exc: Exception) -> None:
    """Record that one event cannot be applied (it goes to the DLQ; the batch goes on)."""
    if isinstance(exc, AppError) and exc.retryable:
        raise exc
    if not isinstance(exc, AppError):
        log.exception(
            "fold failed event_id=%s type=%s",
            event.id,
            event.type,
            exc_info=exc,
            extra=logs.event_fields(event),  # its job or stream and correlation id on the line
        )
        exc = AppError(f"{type(exc).__name__}: {exc}", code=ErrorCode.INTERNAL_ERROR)
    rejected.append((index, exc))


class DocCache:
    """Documents a sole writer (a rebuild filling its own collection) has read or written.

    While nothing has been evicted, a miss means the document does not exist yet, so a rebuild
    reads nothing back for new entities. Any failed write clears it (what was written is then
    unknown)."""

    def __init__(self, max_docs: int = 200_000) -> None:
        self.max_docs = max_docs
        self.docs: OrderedDict[str, Doc | None] = OrderedDict()
        self.complete = True  # no eviction yet: a miss is a document that does not exist

    def clear(self) -> None:
        self.docs.clear()
        self.complete = False

    def put(self, key: str, doc: Doc | None) -> None:
        self.docs[key] = doc
        self.docs.move_to_end(key)
        while len(self.docs) > self.max_docs:
            self.docs.popitem(last=False)
            self.complete = False


@dataclass
class Documents:
    """The documents of one collection that one batch touches: as read, and as folded."""

    collection: AsyncCollection[Doc]
    cache: DocCache | None = None
    # What a replace must find unchanged (compare-and-set): the position, and any field that
    # another write may change without moving it (the live-stream facts copied by update_many).
    cas: tuple[str, ...] = (POSITION,)
    base: dict[str, Doc | None] = field(default_factory=dict)  # as stored before this batch
    current: dict[str, Doc | None] = field(default_factory=dict)
    dirty: dict[str, None] = field(default_factory=dict)  # insertion-ordered set

    async def load(self, keys: Iterable[str]) -> None:
        missing = [k for k in dict.fromkeys(keys) if k not in self.current]
        if self.cache is not None:
            unknown = []
            for key in missing:
                if key in self.cache.docs:
                    self.base[key] = self.current[key] = self.cache.docs[key]
                elif self.cache.complete:
                    self.base[key] = self.current[key] = None
                else:
                    unknown.append(key)
            missing = unknown
        if not missing:
            return
        async with mongo_errors(f"read {self.collection.name}"):
            found = {d["_id"]: d async for d in self.collection.find({"_id": {"$in": missing}})}
        for key in missing:
            self.base[key] = self.current[key] = found.get(key)

    def get(self, key: str) -> Doc | None:
        return self.current.get(key)

    def put(self, key: str, doc: Doc) -> None:
        self.current[key] = doc
        self.dirty[key] = None

    async def write(self) -> int:
        """One bulk write of every changed document (compare-and-set on `position`)."""
        ops: list[Any] = []
        replaces = 0
        for key in self.dirty:
            doc = self.current[key]
            if doc is None:
                continue
            base = self.base.get(key)
            if base is None:
                ops.append(InsertOne(doc))
            else:
                ops.append(ReplaceOne({"_id": key, **{f: base.get(f) for f in self.cas}}, doc))
                replaces += 1
        if not ops:
            return 0
        what = f"write {self.collection.name}"
        try:
            # Each document appears once, so order does not matter; unordered lets the server
            # go on past a conflict (the batch is refolded anyway) and is faster.
            result = await self.collection.bulk_write(ops, ordered=False)
        except BaseException as exc:
            self._forget()  # what was written is unknown now
            if not isinstance(exc, PyMongoError):
                raise
            if _duplicate_key(exc):
                raise WriteConflictError(f"{what}: a document appeared concurrently") from exc
            raise translate(exc, what) from exc
        if result.matched_count < replaces:
            self._forget()
            raise WriteConflictError(
                f"{what}: {replaces - result.matched_count} documents changed concurrently"
            )
        if self.cache is not None:
            for key in self.dirty:
                self.cache.put(key, self.current[key])
            for key, doc in self.base.items():
                if key not in self.dirty:
                    self.cache.put(key, doc)
        self.base.update((k, self.current[k]) for k in self.dirty)
        self.dirty.clear()
        return len(ops)

    def _forget(self) -> None:
        if self.cache is not None:
            self.cache.clear()


def _duplicate_key(exc: PyMongoError) -> bool:
    if isinstance(exc, DuplicateKeyError):
        return True
    details = getattr(exc, "details", None) or {}
    return any(e.get("code") == DUPLICATE_KEY for e in details.get("writeErrors", []))


@dataclass
class DocumentFold:
    """One document per entity (`_id` from the event); `apply` decides, this class does I/O.

    `skip_applied=False` re-applies records at or below a document's position: only the
    catch-up after a rebuild's alias switch wants that (records the live worker folded into the
    old collection during its alias cache period); the folds are idempotent and
    order-insensitive, so re-applying is safe for them."""

    collection: Callable[[], Awaitable[AsyncCollection[Doc]]]
    doc_id: Callable[[Envelope], str | None]
    apply: Apply
    skip_applied: bool = True
    cache: DocCache | None = None

    async def __call__(self, batch: Batch, rejects: RejectSink) -> None:
        rejected: Rejected = []
        keyed: list[tuple[int, str, Envelope, RecordMeta]] = []
        for index, (event, meta) in enumerate(batch):
            try:
                key = self.doc_id(event)
            except Exception as exc:  # noqa: BLE001 - one bad event must not sink the batch
                reject(rejected, index, event, exc)
                continue
            if key is not None:
                keyed.append((index, key, event, meta))
        if not keyed:
            await rejects(rejected)
            return
        docs = Documents(await self.collection(), self.cache)
        await docs.load(key for _, key, _, _ in keyed)
        for index, key, event, meta in keyed:
            state = docs.get(key)
            if self.skip_applied and applied(state, meta):
                continue
            try:
                new = self.apply(state, event)
            except Exception as exc:  # noqa: BLE001 - dead-letter this event, fold the rest
                reject(rejected, index, event, exc)
                continue
            if new is None or new == state:
                continue
            docs.put(key, {**new, "_id": key, POSITION: advance(state, meta)})
        await rejects(rejected)  # before the write: see streams.consume.RejectSink
        await docs.write()
