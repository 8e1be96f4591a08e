"""Run a pure `apply(state, event)` read model against MongoDB: read, fold, write if changed."""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from pymongo.asynchronous.collection import AsyncCollection

from projections.store import Doc, mongo_errors
from streams.events import Envelope
from streams.pipeline import RecordMeta

Apply = Callable[[Doc | None, Envelope], Doc | None]


@dataclass(frozen=True, slots=True)
class DocumentFold:
    """One document per entity (`_id` from the event); `apply` decides, this class only does I/O.

    The read-fold-write is safe because one partition (so one entity) is folded by one agent at a
    time; `apply` itself is idempotent, so a redelivered or replayed event changes nothing.
    """

    collection: Callable[[], AsyncCollection[Doc]]
    doc_id: Callable[[Envelope], str | None]
    apply: Apply

    async def __call__(self, event: Envelope, meta: RecordMeta) -> None:
        key = self.doc_id(event)
        if key is None:
            return
        coll = self.collection()
        async with mongo_errors(f"read {coll.name}"):
            state = await coll.find_one({"_id": key})
        new = self.apply(state, event)
        if new is None or new == state:
            return
        new = {**new, "_id": key, "position": {"partition": meta.partition, "offset": meta.offset}}
        async with mongo_errors(f"write {coll.name}"):
            await coll.replace_one({"_id": key}, new, upsert=True)

    def batched(self) -> BatchedFold:
        """The same fold for replays: buffer events, then one `$in` read and one bulk write."""
        return BatchedFold(self)


class BatchedFold:
    """The fold for a rebuild, whose target collection nobody else writes (write-behind).

    `flush` folds buffered (event, meta) pairs in order with the same pure `apply`, keeping the
    documents in a bounded LRU cache; a document is written when the cache evicts it and at
    `finish` (the end of a replayed span), so most documents are written once, with a bulk
    insert. Why: on FerretDB v1 (SQLite) every update or delete by `_id` scans the collection
    and only inserts are cheap; on MongoDB this is simply fewer round trips. A document evicted
    and met again is read back by `_id` and rewritten with delete + insert (not atomic, which is
    fine here: nothing reads the new collection before the rebuild switches to it).
    Flushes are serialised, so a later batch always sees what an earlier one folded."""

    def __init__(self, fold: DocumentFold, *, max_cached: int = 200_000) -> None:
        self.fold = fold
        self.max_cached = max_cached
        self._pending: list[tuple[Envelope, RecordMeta]] = []
        self._cache: OrderedDict[str, Doc | None] = OrderedDict()
        self._dirty: set[str] = set()
        self._stored: set[str] = set()  # ids present in the collection
        self._evicted = False  # until the cache forgets something, a miss means "not written yet"
        self._lock = asyncio.Lock()
        self.written = 0

    async def __call__(self, event: Envelope, meta: RecordMeta) -> None:
        self._pending.append((event, meta))

    async def _state(self, coll: AsyncCollection[Doc], key: str) -> Doc | None:
        if key in self._cache:
            self._cache.move_to_end(key)
            return self._cache[key]
        if not self._evicted:
            return None
        async with mongo_errors(f"read {coll.name}"):
            doc = await coll.find_one({"_id": key})
        if doc is not None:
            self._stored.add(key)
        return doc

    async def flush(self) -> None:
        """Fold what is buffered; write only what the cache evicts."""
        async with self._lock:
            pending, self._pending = self._pending, []
            coll = self.fold.collection()
            for event, meta in pending:
                key = self.fold.doc_id(event)
                if key is None:
                    continue
                state = await self._state(coll, key)
                new = self.fold.apply(state, event)
                if new is not None and new != state:
                    state = {**new, "_id": key,
                             "position": {"partition": meta.partition, "offset": meta.offset}}
                    self._dirty.add(key)
                self._cache[key] = state
                self._cache.move_to_end(key)
            evicted: dict[str, Doc] = {}
            while len(self._cache) > self.max_cached:
                key, doc = self._cache.popitem(last=False)
                self._evicted = True
                if key in self._dirty and doc is not None:
                    evicted[key] = doc
                self._dirty.discard(key)
            await self._write(coll, evicted)

    async def finish(self) -> None:
        """Fold what is buffered and write every document not written yet."""
        await self.flush()
        async with self._lock:
            coll = self.fold.collection()
            docs = {k: d for k in self._dirty if (d := self._cache.get(k)) is not None}
            self._dirty.clear()
            await self._write(coll, docs)

    async def _write(self, coll: AsyncCollection[Doc], docs: dict[str, Doc]) -> None:
        if not docs:
            return
        again = [k for k in docs if k in self._stored]
        async with mongo_errors(f"write {coll.name}"):
            if again:
                await coll.delete_many({"_id": {"$in": again}})
            await coll.insert_many(list(docs.values()), ordered=False)
        self._stored.update(docs)
        self.written += len(docs)
