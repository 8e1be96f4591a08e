"""The job metrics the runner keeps (issue 13): jobs finished by outcome/source/code, once per
terminal event it appends; step-to-step times; and POST-to-terminal durations clamped at 0."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from prometheus_client import REGISTRY

from streams.errors import ScrapeError
from streams.events import Envelope, new_event
from streams.events.netflix import ScrapeRequested, TitleData
from streams.netflix.runner import DictTitleCache, ScrapeJobRunner
from streams.netflix.urls import TitleRef
from streams.topics import TopicNames

pytestmark = pytest.mark.unit

POSTED = datetime(2026, 12, 3, 10, 0, tzinfo=UTC)
TOPICS = TopicNames("t.")


class Sink:
    def __init__(self, fail_terminal: bool = False) -> None:
        self.fail_terminal = fail_terminal

    async def append(self, topic: str, event: Envelope, *, wait: bool = True) -> None:
        if self.fail_terminal and event.type in ("job.completed", "job.failed"):
            raise ConnectionError("broker gone")


class Scraper:
    def __init__(self, error: ScrapeError | None = None) -> None:
        self.error = error

    async def scrape(self, ref: TitleRef) -> TitleData:
        if self.error is not None:
            raise self.error
        url = f"https://www.netflix.com/de/title/{ref.title_id}"
        return TitleData(title="T", title_id=ref.title_id, country="de", url=url)


async def not_stored(country: str, title_id: str, newer_than: datetime) -> TitleData | None:
    return None


def job_runner(
    table: dict[str, Any], *, now: datetime, sink: Sink | None = None, **kw: Any
) -> ScrapeJobRunner:
    return ScrapeJobRunner(
        sink=sink or Sink(),
        cache=DictTitleCache(table, ttl_seconds=3600),
        find_title=not_stored,
        scraper=kw.pop("scraper", Scraper()),
        topics=TOPICS,
        stale_after_seconds=60,
        clock=lambda: now,
    )


def request(title_id: str) -> Envelope:
    data = ScrapeRequested(
        job_id=f"job-{title_id}",
        url=f"https://www.netflix.com/de/title/{title_id}",
        country="de",
        title_id=title_id,
        requested_at=POSTED,
    )
    return new_event(data, key=f"de:{title_id}", correlation_id=data.job_id, clock=lambda: POSTED)


def value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def snapshot() -> dict[str, float]:
    finished, duration = "streamproc_jobs_finished_total", "streamproc_job_duration_seconds"
    steps = "streamproc_job_step_duration_seconds_count"
    return {
        "netflix": value(finished, outcome="completed", source="netflix", code="none"),
        "cache": value(finished, outcome="completed", source="cache", code="none"),
        "failed": value(finished, outcome="failed", source="none", code="SCRAPE_ERROR"),
        "dur_netflix_n": value(f"{duration}_count", outcome="completed", source="netflix"),
        "dur_netflix_sum": value(f"{duration}_sum", outcome="completed", source="netflix"),
        "dur_cache_sum": value(f"{duration}_sum", outcome="completed", source="cache"),
        "dur_failed_n": value(f"{duration}_count", outcome="failed", source="none"),
        "step_scraping": value(steps, step="scraping_netflix"),
        "step_completed": value(steps, step="completed"),
        "step_cache": value(steps, step="checking_cache"),
    }


def moved(before: dict[str, float]) -> dict[str, float]:
    after = snapshot()
    return {k: round(after[k] - before[k], 6) for k in after if after[k] != before[k]}


async def test_a_scraped_job_then_a_cache_hit_count_once_each_with_their_durations() -> None:
    table: dict[str, Any] = {}
    before = snapshot()
    await job_runner(table, now=POSTED + timedelta(seconds=3))(request("70000001"), None)  # type: ignore[arg-type]
    assert moved(before) == {
        "netflix": 1,
        "dur_netflix_n": 1,
        "dur_netflix_sum": 3.0,  # terminal (runner clock) minus the request's occurredAt
        "step_cache": 1,
        "step_scraping": 1,
        "step_completed": 1,
    }

    before = snapshot()
    # A clock behind the request (another host's clock): clamped at 0, never negative.
    await job_runner(table, now=POSTED - timedelta(seconds=5))(request("70000001"), None)  # type: ignore[arg-type]
    assert moved(before) == {"cache": 1, "step_cache": 1, "step_completed": 1}
    assert value("streamproc_job_duration_seconds_count", outcome="completed", source="cache") >= 1


async def test_a_failed_job_counts_its_code_and_no_source() -> None:
    before = snapshot()
    scraper = Scraper(ScrapeError("Failed to fetch Netflix page: 403"))
    await job_runner({}, now=POSTED + timedelta(seconds=1), scraper=scraper)(request("70000002"), None)  # type: ignore[arg-type]
    assert moved(before) == {"failed": 1, "dur_failed_n": 1, "step_cache": 1, "step_scraping": 1}


async def test_a_terminal_event_that_was_not_appended_is_not_counted() -> None:
    before = snapshot()
    runner = job_runner({}, now=POSTED, sink=Sink(fail_terminal=True))
    with pytest.raises(ConnectionError):
        await runner(request("70000003"), None)  # type: ignore[arg-type]
    changed = moved(before)
    assert "netflix" not in changed and "dur_netflix_n" not in changed
