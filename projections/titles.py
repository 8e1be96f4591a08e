"""The titles read model: the newest scrape of each title, folded from `netflix.titles`."""

from __future__ import annotations

from projections.store import Doc
from streams.events import Envelope
from streams.events.netflix import TitleScraped
from streams.topics import title_key


def doc_id(event: Envelope) -> str | None:
    data = event.data
    return title_key(data.country, data.title_id) if isinstance(data, TitleScraped) else None


def apply(state: Doc | None, event: Envelope) -> Doc | None:
    """Pure: keep the newest scrape (`scrapedAt`); older or repeated events change nothing."""
    data = event.data
    if not isinstance(data, TitleScraped):
        return state
    if state is not None and state["scrapedAt"] >= data.scraped_at:
        return state
    return {
        "country": data.country,
        "titleId": data.title_id,
        "scrapedAt": data.scraped_at,
        "jobId": data.job_id,
        "eventId": event.id,
        "title": data.title.model_dump(mode="json", by_alias=True),
    }
