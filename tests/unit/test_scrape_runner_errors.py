"""A title job that breaks in a way no retry fixes still ends: job.failed with a code at the step
it broke, and the error goes on to the processor (which dead-letters the request). A retryable
failure writes no end: the request is redelivered and the job runs again.

Found by tests/faults/test_broker_kill.py: when the title cache refused every write (its Faust
changelog missing on a fresh cluster deployment), 180 jobs were dead-lettered at
saving_to_database or checking_database and never ended for their subscribers."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from streams.consume import RecordMeta
from streams.errors import ErrorCode, UnavailableError
from streams.events import Envelope, new_event
from streams.events.netflix import TERMINAL_SEQUENCE, JobFailed, JobStep, ScrapeRequested, TitleData
from streams.netflix.runner import DictTitleCache, ScrapeJobRunner
from streams.netflix.urls import TitleRef
from streams.topics import TopicNames

pytestmark = pytest.mark.unit

NOW = datetime(2026, 12, 3, 10, 0, tzinfo=UTC)
TOPICS = TopicNames("t.")


class CollectingSink:
    """Where the job's events go (Kafka in the worker)."""

    def __init__(self) -> None:
        self.events: list[tuple[str, Envelope]] = []

    async def append(self, topic: str, event: Envelope, *, wait: bool = True) -> None:
        self.events.append((topic, event))


class RefusingTable(dict[str, Any]):
    """A table whose writes fail, as Faust's did with its changelog missing (PartitionsMismatch)."""

    def __setitem__(self, key: str, value: Any) -> None:
        raise RuntimeError("PartitionsMismatch: the changelog has 0 partitions")


class Scraper:
    async def scrape(self, ref: TitleRef) -> TitleData:
        url = f"https://www.netflix.com/de/title/{ref.title_id}"
        return TitleData(title="T", title_id=ref.title_id, country="de", url=url)


def runner(sink: CollectingSink, find_title: Any) -> ScrapeJobRunner:
    return ScrapeJobRunner(
        sink=sink,
        cache=DictTitleCache(RefusingTable(), ttl_seconds=60),
        find_title=find_title,
        scraper=Scraper(),
        topics=TOPICS,
        stale_after_seconds=60,
        clock=lambda: NOW,
    )


def request() -> tuple[Envelope, RecordMeta]:
    data = ScrapeRequested(
        job_id="job-1",
        url="https://www.netflix.com/de/title/80100172",
        country="de",
        title_id="80100172",
        requested_at=NOW,
    )
    event = new_event(data, key="de:80100172", correlation_id="job-1", clock=lambda: NOW)
    return event, RecordMeta(topic=TOPICS.scrape_requests, partition=0, offset=7, key=b"de:80100172")


async def not_stored(country: str, title_id: str, newer_than: datetime) -> TitleData | None:
    return None


async def test_a_job_broken_by_a_bug_ends_with_internal_error_and_the_error_goes_on() -> None:
    sink = CollectingSink()
    with pytest.raises(RuntimeError, match="PartitionsMismatch"):
        await runner(sink, not_stored)(*request())
    job_events = [event for topic, event in sink.events if topic == TOPICS.job_events]
    *steps, last = job_events
    assert [s.data.step_code for s in steps] == [  # type: ignore[attr-defined]
        JobStep.CHECKING_CACHE,
        JobStep.CHECKING_DATABASE,
        JobStep.SCRAPING_NETFLIX,
        JobStep.SAVING_TO_DATABASE,
    ]
    assert isinstance(last.data, JobFailed) and last.sequence == TERMINAL_SEQUENCE
    assert last.data.error.code == ErrorCode.INTERNAL_ERROR.value
    assert last.data.failed_step == JobStep.SAVING_TO_DATABASE
    assert "PartitionsMismatch" not in last.data.error.message  # no internals to clients
    assert [topic for topic, _ in sink.events].count(TOPICS.titles) == 1  # the title was stored


async def test_a_retryable_failure_writes_no_end() -> None:
    async def database_down(country: str, title_id: str, newer_than: datetime) -> TitleData | None:
        raise UnavailableError("database unavailable")

    sink = CollectingSink()
    with pytest.raises(UnavailableError):
        await runner(sink, database_down)(*request())
    assert not [e for _, e in sink.events if isinstance(e.data, JobFailed)]
