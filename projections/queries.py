"""Typed reads over the read models: what the gateway and the scrape agent may ask."""

from __future__ import annotations

from datetime import datetime

from projections.store import Doc, MongoStore, mongo_errors
from streams.events.netflix import TitleData
from streams.topics import title_key


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
