"""The MongoDB side: one AsyncMongoClient, collections, indexes, and pymongo errors made ours."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from pymongo import ASCENDING, DESCENDING, AsyncMongoClient
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import ConnectionFailure, OperationFailure, PyMongoError, ServerSelectionTimeoutError

from streams.errors import AppError, ErrorCode, UnavailableError

log = logging.getLogger(__name__)

JOBS = "jobs"
TITLES = "titles"
STREAMS = "live_streams"
HISTORY = "stream_history"
POSITIONS = "projection_positions"

Doc = dict[str, Any]


def translate(exc: PyMongoError, what: str) -> AppError:
    """pymongo's exceptions become ours here: unreachable -> UNAVAILABLE (retryable)."""
    if isinstance(exc, ConnectionFailure | ServerSelectionTimeoutError):
        return UnavailableError(f"database unavailable during {what}: {exc}")
    if isinstance(exc, OperationFailure) and exc.code in (89, 91, 189, 10107, 11600, 11602, 13435):
        return UnavailableError(f"database not ready during {what}: {exc}")
    return AppError(f"database error during {what}: {exc}", code=ErrorCode.INTERNAL_ERROR)


@asynccontextmanager
async def mongo_errors(what: str) -> AsyncIterator[None]:
    try:
        yield
    except PyMongoError as exc:
        raise translate(exc, what) from exc


class MongoStore:
    """Owns the client and names the read-model collections; `prefix` isolates deployments."""

    def __init__(
        self,
        uri: str,
        database: str,
        *,
        prefix: str = "",
        server_selection_timeout_ms: int = 5000,
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

    def collection(self, name: str) -> AsyncCollection[Doc]:
        return self.db[self.prefix + name]

    @property
    def jobs(self) -> AsyncCollection[Doc]:
        return self.collection(JOBS)

    @property
    def titles(self) -> AsyncCollection[Doc]:
        return self.collection(TITLES)

    @property
    def streams(self) -> AsyncCollection[Doc]:
        return self.collection(STREAMS)

    @property
    def history(self) -> AsyncCollection[Doc]:
        return self.collection(HISTORY)

    async def ping(self) -> None:
        async with mongo_errors("ping"):
            await self.client.admin.command("ping")

    async def ensure_indexes(self) -> None:
        """Idempotent: safe on every start."""
        async with mongo_errors("create indexes"):
            await self.streams.create_index([("status", ASCENDING), ("startedAt", DESCENDING)])
            await self.history.create_index(
                [("userId", ASCENDING), ("bucket", ASCENDING), ("visible", ASCENDING),
                 ("endedAt", DESCENDING), ("liveStreamId", DESCENDING)],
                name="user_bucket_visible_endedAt",
            )
            await self.history.create_index([("liveStreamId", ASCENDING)])

    async def close(self) -> None:
        await self.client.close()
