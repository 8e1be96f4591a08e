"""Switching a read model to another physical collection: the `projection_aliases` documents.

One document per logical collection: `{_id: <default name>, collection: <physical name>,
switchedAt, sourceOffsets, previous, projection}`. A single-document write is atomic on every
Mongo-wire server (FerretDB v1 has no transactions and no `renameCollection` with dropTarget),
and readers (`MongoStore.collection`) load the whole map in one query, so they see a switch
as a whole. A projection with two collections writes its two documents in one ordered
`bulk_write`; the only mixed state a reader can catch in between is "new history, old
streams", which is the same order the live-stream handler writes in.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from pymongo import ReplaceOne

from projections.store import Doc, MongoStore, mongo_errors


@dataclass(frozen=True, slots=True)
class Alias:
    logical: str
    collection: str
    switched_at: datetime | None
    source_offsets: dict[str, int]
    previous: str | None


async def current(store: MongoStore, logical: str) -> Alias:
    """Where `logical` points now (itself when it was never switched)."""
    name = store.prefix + logical
    async with mongo_errors("read projection alias"):
        doc = await store.alias_collection.find_one({"_id": name})
    if doc is None:
        return Alias(logical, name, None, {}, None)
    return Alias(
        logical,
        doc["collection"],
        doc.get("switchedAt"),
        dict(doc.get("sourceOffsets") or {}),
        doc.get("previous"),
    )


def offsets_doc(offsets: Mapping[int, int]) -> dict[str, int]:
    """Partition numbers as keys of a BSON document must be strings."""
    return {str(p): int(o) for p, o in sorted(offsets.items())}


async def switch(
    store: MongoStore,
    projection: str,
    targets: Mapping[str, str],
    previous: Mapping[str, str],
    source_offsets: Mapping[int, int],
    switched_at: datetime,
) -> None:
    """Point every logical name in `targets` at its new physical collection, in the order given."""
    ops = [
        ReplaceOne(
            {"_id": store.prefix + logical},
            {
                "collection": physical,
                "projection": projection,
                "switchedAt": switched_at,
                "sourceOffsets": offsets_doc(source_offsets),
                "previous": previous.get(logical),
            },
            upsert=True,
        )
        for logical, physical in targets.items()
    ]
    async with mongo_errors("switch projection aliases"):
        await store.alias_collection.bulk_write(ops, ordered=True)
    store.aliases.invalidate()


async def record_catch_up(
    store: MongoStore, logicals: list[str], offsets: Mapping[int, int], at: datetime
) -> None:
    """Note how far the catch-up after a switch went (the `collection` field is not touched)."""
    update: Doc = {"$set": {"caughtUpOffsets": offsets_doc(offsets), "caughtUpAt": at}}
    async with mongo_errors("update projection aliases"):
        await store.alias_collection.update_many(
            {"_id": {"$in": [store.prefix + name for name in logicals]}}, update
        )


async def collection_exists(store: MongoStore, physical: str) -> bool:
    async with mongo_errors("list collections"):
        names = await store.db.list_collection_names(filter={"name": physical})
    return physical in names


async def drop(store: MongoStore, physical: str) -> None:
    async with mongo_errors(f"drop {physical}"):
        await store.db.drop_collection(physical)
