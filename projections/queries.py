"""The read side's one door: typed reads the gateway and the scrape agent may ask, and the store."""

from __future__ import annotations

from datetime import datetime

from projections.jobs import fold as fold_job
from projections.jobstate import Emit, emits_for, emits_from_document, error_payload, rest_state
from projections.livestream_queries import (
    Dto,
    find_stream,
    find_stream_dto,
    get_stream,
    my_broadcasted,
    my_watched,
    participation_role,
    whats_live_now,
)
from projections.registry import PROJECTIONS
from projections.store import Doc, MongoStore, mongo_errors
from streams.events.netflix import TitleData
from streams.topics import title_key

# The gateway opens, pings and closes the store through this module only.
__all__ = [
    "Doc",
    "Dto",
    "Emit",
    "MongoStore",
    "emits_for",
    "emits_from_document",
    "error_payload",
    "find_fresh_title",
    "find_stream",
    "find_stream_dto",
    "fold_job",
    "get_job",
    "get_stream",
    "my_broadcasted",
    "my_watched",
    "participation_role",
    "projection_topics",
    "rest_state",
    "whats_live_now",
]


async def get_job(store: MongoStore, job_id: str) -> Doc | None:
    async with mongo_errors("read job"):
        return await (await store.jobs()).find_one({"_id": job_id})


async def find_fresh_title(
    store: MongoStore, country: str, title_id: str, *, newer_than: datetime
) -> TitleData | None:
    """The stored title if it was scraped after `newer_than` (the staleness limit), else None."""
    async with mongo_errors("read title"):
        doc = await (await store.titles()).find_one({"_id": title_key(country, title_id)})
    if doc is None or doc["scrapedAt"] < newer_than:
        return None
    return TitleData.model_validate(doc["title"])


def projection_topics() -> dict[str, str]:
    """Each read model's name and the public topic it is folded from (for lag and readiness)."""
    return {p.name: p.topic for p in PROJECTIONS.values()}
