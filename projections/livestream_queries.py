"""Typed reads over the live-stream read models: history lists, what's live now, one stream."""

from __future__ import annotations

import asyncio
import math
from typing import Any

from pymongo import DESCENDING

from projections import livestream_history as history
from projections.livestream_streams import to_dto, view_of
from projections.store import Doc, MongoStore, mongo_errors
from streams.events.livestream import Role, StreamStatus, StreamView

Dto = dict[str, Any]

# Page through a history list in this order: newest endedAt first, ties by liveStreamId
# descending. The index `user_bucket_visible_endedAt` serves the filter and the sort.
HISTORY_SORT = [("endedAt", DESCENDING), ("liveStreamId", DESCENDING)]
LIVE_SORT = [("startedAt", DESCENDING), ("_id", DESCENDING)]


def pagination(page: int, limit: int, total: int) -> dict[str, Any]:
    """The seed's pagination. No items means `totalPages: 0` (there is no page to show)."""
    total_pages = math.ceil(total / limit) if total else 0
    return {
        "currentPage": page,
        "totalPages": total_pages,
        "totalItems": total,
        "itemsPerPage": limit,
        "hasNextPage": page < total_pages,
        "hasPrevPage": page > 1,
    }


def _page(items: list[dict[str, Any]], page: int, limit: int, total: int) -> dict[str, Any]:
    return {"list": items, "pagination": pagination(page, limit, total)}


async def _history(store: MongoStore, user_id: str, bucket: str, page: int, limit: int) -> dict[str, Any]:
    where = {"userId": user_id, "bucket": bucket, "visible": True}
    skip = (page - 1) * limit
    history_coll = await store.history()

    async def page_rows() -> list[Doc]:
        cursor = history_coll.find(where, {"liveStreamId": 1, "role": 1})
        return [row async for row in cursor.sort(HISTORY_SORT).skip(skip).limit(limit)]

    async with mongo_errors("read stream history"):
        if skip == 0:
            # Both walk the same index prefix; concurrently, the page costs the slower of the two.
            total, rows = await asyncio.gather(history_coll.count_documents(where), page_rows())
        else:
            # A later page: the count first, so a page past the end (page=10**12) is answered
            # without a skip, and a skip never walks further than the user's own items.
            total = await history_coll.count_documents(where)
            rows = await page_rows() if skip < total else []
        ids = [row["liveStreamId"] for row in rows]
        found = (
            {doc["_id"]: doc async for doc in (await store.streams()).find({"_id": {"$in": ids}})}
            if ids
            else {}
        )
    # A participation never outlives its stream document (the worker writes it first and
    # never deletes either), so a missing stream is only skipped defensively.
    items = [to_dto(found[row["liveStreamId"]], row["role"]) for row in rows if row["liveStreamId"] in found]
    return _page(items, page, limit, total)


async def my_broadcasted(store: MongoStore, user_id: str, page: int, limit: int) -> dict[str, Any]:
    """Ended, not deleted streams the user was host or guest of."""
    return await _history(store, user_id, history.BROADCASTED, page, limit)


async def my_watched(store: MongoStore, user_id: str, page: int, limit: int) -> dict[str, Any]:
    """Ended, not deleted streams the user watched as audience."""
    return await _history(store, user_id, history.WATCHED, page, limit)


async def whats_live_now(
    store: MongoStore, page: int, limit: int, user_id: str | None = None
) -> dict[str, Any]:
    """Live, not deleted streams, latest start first; `role` is the caller's (null if anonymous)."""
    where = {"status": StreamStatus.LIVE.value, "deleted": False, "known": True}
    async with mongo_errors("read live streams"):
        total = await (await store.streams()).count_documents(where)
        docs = (
            [
                doc
                async for doc in (await store.streams())
                .find(where)
                .sort(LIVE_SORT)
                .skip((page - 1) * limit)
                .limit(limit)
            ]
            if total > (page - 1) * limit
            else []
        )
    return _page([_dto(doc, user_id)[1] for doc in docs], page, limit, total)


def _dto(doc: Doc, user_id: str | None) -> tuple[StreamView, Dto]:
    """The view and the DTO, with `role` the caller's (null if anonymous)."""
    view = view_of(doc)
    return view, to_dto(doc, view.role_for(user_id).value if user_id else None)


async def _find(store: MongoStore, live_stream_id: str) -> Doc | None:
    """Deleted streams included; streams known only by a stray event id not."""
    async with mongo_errors("read live stream"):
        doc = await (await store.streams()).find_one({"_id": live_stream_id})
    return doc if doc is not None and doc.get("known") else None


async def find_stream(store: MongoStore, live_stream_id: str) -> StreamView | None:
    """The stream as the command rules see it (deleted ones included)."""
    doc = await _find(store, live_stream_id)
    return view_of(doc) if doc is not None else None


async def find_stream_dto(
    store: MongoStore, live_stream_id: str, user_id: str | None
) -> tuple[StreamView, Dto] | None:
    """The view and the DTO from one read, so a command's answer shows the state it waited for."""
    doc = await _find(store, live_stream_id)
    return _dto(doc, user_id) if doc is not None else None


async def get_stream(store: MongoStore, live_stream_id: str, user_id: str | None = None) -> Dto | None:
    """The DTO of a stream, or None when it does not exist or is deleted."""
    found = await find_stream_dto(store, live_stream_id, user_id)
    return None if found is None or found[0].deleted else found[1]


async def participation_role(store: MongoStore, user_id: str, live_stream_id: str) -> Role | None:
    """The best role the user's participations in the stream have reached so far."""
    async with mongo_errors("read stream history"):
        doc = await (await store.history()).find_one(
            {"_id": history.history_id(user_id, live_stream_id)}, {"role": 1}
        )
    return Role(doc["role"]) if doc is not None else None
