"""The MongoDB side: one AsyncMongoClient, collections, indexes, and pymongo errors made ours."""

from __future__ import annotations

import asyncio
import copy
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from contextlib import asynccontextmanager
from typing import Any

from pymongo import ASCENDING, DESCENDING, AsyncMongoClient
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import (
    BulkWriteError,
    ConnectionFailure,
    OperationFailure,
    PyMongoError,
    ServerSelectionTimeoutError,
)

from projections.metrics import DATABASE_ERRORS
from streams.errors import AppError, ErrorCode, UnavailableError

log = logging.getLogger(__name__)

JOBS = "jobs"
TITLES = "titles"
STREAMS = "live_streams"
HISTORY = "stream_history"
POSITIONS = "projection_positions"
# Logical name -> physical collection, switched by `python -m projections.replay rebuild`.
ALIASES = "projection_aliases"
# How long a store trusts its alias map. A rebuild waits longer than this after a switch before
# its final catch-up, so every writer has moved to the new collection by then.
ALIAS_TTL_SECONDS = 1.0

Doc = dict[str, Any]
IndexSpec = tuple[list[tuple[str, int]], dict[str, Any]]

# Secondary indexes per logical collection (the `_id` index is implicit). `ensure_indexes`
# creates them on whatever physical collection the name resolves to; a rebuild creates them on
# its fresh collections before filling them.
INDEXES: dict[str, list[IndexSpec]] = {
    STREAMS: [
        (
            [("status", ASCENDING), ("deleted", ASCENDING), ("startedAt", DESCENDING), ("_id", DESCENDING)],
            {"name": "status_deleted_startedAt"},
        ),
    ],
    HISTORY: [
        (
            [
                ("userId", ASCENDING),
                ("bucket", ASCENDING),
                ("visible", ASCENDING),
                ("endedAt", DESCENDING),
                ("liveStreamId", DESCENDING),
            ],
            {"name": "user_bucket_visible_endedAt"},
        ),
        ([("liveStreamId", ASCENDING)], {}),
    ],
}


# Server codes that mean "not now" rather than "never": shutting down, stepping down, not
# primary, interrupted, timed out, host unreachable, write concern not satisfied.
TRANSIENT_CODES = frozenset(
    {
        6,
        7,
        50,
        64,
        89,
        91,
        189,
        262,
        9001,
        10107,
        11600,
        11601,
        11602,
        13435,
        13436,
    }
)


def _transient(exc: PyMongoError) -> bool:
    if exc.has_error_label("RetryableWriteError") or exc.has_error_label("TransientTransactionError"):
        return True
    if isinstance(exc, BulkWriteError):
        details = exc.details or {}
        inner = [e.get("code") for e in details.get("writeErrors", [])]
        return bool(details.get("writeConcernErrors")) or any(c in TRANSIENT_CODES for c in inner)
    return isinstance(exc, OperationFailure) and exc.code in TRANSIENT_CODES


def translate(exc: PyMongoError, what: str) -> AppError:
    """pymongo's exceptions become ours here: unreachable or not-now -> UNAVAILABLE (retried
    by the consumers); anything else is an internal error."""
    if isinstance(exc, ConnectionFailure | ServerSelectionTimeoutError):
        DATABASE_ERRORS.labels("unreachable").inc()
        return UnavailableError(f"database unavailable during {what}: {exc}")
    if _transient(exc):
        DATABASE_ERRORS.labels("transient").inc()
        return UnavailableError(f"database not ready during {what}: {exc}")
    DATABASE_ERRORS.labels("other").inc()
    return AppError(f"database error during {what}: {exc}", code=ErrorCode.INTERNAL_ERROR)


@asynccontextmanager
async def mongo_errors(what: str) -> AsyncIterator[None]:
    try:
        yield
    except PyMongoError as exc:
        raise translate(exc, what) from exc


def _retrieve(future: asyncio.Future[None]) -> None:
    if not future.cancelled():
        future.exception()


class AliasMap:
    """Physical collection names by default name, read from `projection_aliases`, cached.

    The refresh is one asynchronous query on the store's own client, at most one per `ttl` per
    process (concurrent callers share it), so nothing blocks the event loop. The whole map is
    read in one query, so the collections of one projection are seen switching together. A
    refresh that fails raises UnavailableError (retryable) instead of serving a map older than
    `ttl`: a writer must never keep writing to a collection a rebuild has switched away from.
    Callers waiting for a refresh share its failure too: with the database down, N concurrent
    reads fail together after one server-selection timeout, not one after another (N times it).
    """

    def __init__(
        self,
        collection: AsyncCollection[Doc],
        *,
        ttl: float = ALIAS_TTL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.collection, self.ttl, self.clock = collection, ttl, clock
        self._map: dict[str, str] = {}
        self._loaded_at: float | None = None
        self._refreshing: asyncio.Future[None] | None = None

    async def resolve(self, name: str) -> str:
        if self.ttl <= 0:
            return name
        if self._stale():
            if self._refreshing is None or self._refreshing.done():
                self._refreshing = asyncio.ensure_future(self.refresh())
                # its failure is raised to every caller awaiting it; this marks it retrieved
                self._refreshing.add_done_callback(_retrieve)
            # shielded: one caller cancelled (a client gone) must not cancel the others' refresh
            await asyncio.shield(self._refreshing)
        return self._map.get(name, name)

    def _stale(self) -> bool:
        return self._loaded_at is None or self.clock() - self._loaded_at >= self.ttl

    async def refresh(self) -> None:
        async with mongo_errors("read projection aliases"):
            docs = [d async for d in self.collection.find({}, {"collection": 1})]
        self._map = {str(d["_id"]): d["collection"] for d in docs if isinstance(d.get("collection"), str)}
        self._loaded_at = self.clock()

    def invalidate(self) -> None:
        self._loaded_at = None


class MongoStore:
    """Owns the client and names the read-model collections; `prefix` isolates deployments.

    A collection name is resolved through `projection_aliases` (see AliasMap), so a rebuilt
    read model replaces the live one by one alias write; `pinned` views bypass that for the
    collections a rebuild is filling.
    """

    def __init__(
        self,
        uri: str,
        database: str,
        *,
        prefix: str = "",
        server_selection_timeout_ms: int = 5000,
        alias_ttl_seconds: float = ALIAS_TTL_SECONDS,
    ) -> None:
        self.client: AsyncMongoClient[Doc] = AsyncMongoClient(
            uri,
            serverSelectionTimeoutMS=server_selection_timeout_ms,
            connectTimeoutMS=5000,
            tz_aware=True,
            appname="streamproc",
        )
        self.db: AsyncDatabase[Doc] = self.client[database]
        self.prefix = prefix
        self.aliases = AliasMap(self.db[prefix + ALIASES], ttl=alias_ttl_seconds)
        self._pinned: dict[str, str] = {}

    async def physical_name(self, name: str) -> str:
        """The collection that holds the logical read model `name` now."""
        pinned = self._pinned.get(name)
        return pinned if pinned is not None else await self.aliases.resolve(self.prefix + name)

    async def collection(self, name: str) -> AsyncCollection[Doc]:
        return self.db[await self.physical_name(name)]

    @property
    def alias_collection(self) -> AsyncCollection[Doc]:
        return self.db[self.prefix + ALIASES]

    def pinned(self, physical: Mapping[str, str]) -> MongoStore:
        """A view on the same client where the logical names in `physical` always mean the
        given collections (what a rebuild fills); other names resolve as usual. Close the
        store, not its views."""
        view = copy.copy(self)
        view._pinned = {**self._pinned, **physical}
        return view

    async def jobs(self) -> AsyncCollection[Doc]:
        return await self.collection(JOBS)

    async def titles(self) -> AsyncCollection[Doc]:
        return await self.collection(TITLES)

    async def streams(self) -> AsyncCollection[Doc]:
        return await self.collection(STREAMS)

    async def history(self) -> AsyncCollection[Doc]:
        return await self.collection(HISTORY)

    async def ping(self) -> None:
        async with mongo_errors("ping"):
            await self.client.admin.command("ping")

    async def ensure_indexes(self, names: Iterable[str] | None = None) -> None:
        """Idempotent: safe on every start. Indexes go on the physical collections the logical
        names resolve to (`names`: only those read models; default all)."""
        wanted = set(INDEXES if names is None else names)
        async with mongo_errors("create indexes"):
            for name, specs in INDEXES.items():
                if name not in wanted:
                    continue
                coll = await self.collection(name)
                for keys, options in specs:
                    await coll.create_index(keys, **options)

    async def close(self) -> None:
        await self.client.close()
