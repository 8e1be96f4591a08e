"""Run a pure `apply(state, event)` read model against MongoDB: read, fold, write if changed."""

from __future__ import annotations

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
