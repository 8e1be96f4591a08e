"""The title job: cache -> database -> Netflix, every step appended to `netflix.job-events`."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from pydantic import BaseModel

from streams.consume import RecordMeta
from streams.errors import AppError, ErrorCode
from streams.events import Envelope, new_event
from streams.events.envelope import Clock, IdFactory, new_id, utc_now
from streams.events.netflix import (
    STEP_DESCRIPTION,
    STEP_PROGRESS,
    STEP_SEQUENCE,
    TERMINAL_SEQUENCE,
    JobCompleted,
    JobError,
    JobFailed,
    JobProgress,
    JobStatus,
    JobStep,
    ScrapeRequested,
    Source,
    TitleData,
    TitleScraped,
)
from streams.netflix.metrics import JOB_DURATION_SECONDS, JOB_STEP_SECONDS, JOBS_FINISHED
from streams.netflix.urls import TitleRef, parse_title_url
from streams.topics import TopicNames, title_key

log = logging.getLogger(__name__)


class EventSink(Protocol):
    async def append(self, topic: str, event: Envelope, *, wait: bool = True) -> Any: ...


class TitleScraper(Protocol):
    async def scrape(self, ref: TitleRef) -> TitleData: ...


class TitleCache(Protocol):
    """Recently served titles by title key, with a TTL (a Faust table in the worker)."""

    def get(self, key: str, now: datetime) -> TitleData | None: ...

    def put(self, key: str, title: TitleData, now: datetime) -> None: ...


FindTitle = Callable[[str, str, datetime], Awaitable[TitleData | None]]


class DictTitleCache:
    """TitleCache over any mutable mapping (Faust's Table is one): values are JSON-ready dicts."""

    def __init__(self, table: Any, ttl_seconds: float) -> None:
        self.table = table
        self.ttl = timedelta(seconds=ttl_seconds)

    def get(self, key: str, now: datetime) -> TitleData | None:
        entry = self.table.get(key)
        if not entry:
            return None
        cached_at = datetime.fromisoformat(entry["cachedAt"])
        if now - cached_at >= self.ttl:
            del self.table[key]  # expired: the changelog forgets it too
            return None
        return TitleData.model_validate(entry["title"])

    def put(self, key: str, title: TitleData, now: datetime) -> None:
        self.table[key] = {
            "cachedAt": now.isoformat(),
            "title": title.model_dump(mode="json", by_alias=True),
        }


@dataclass
class ScrapeJobRunner:
    """Handles one `scrape.requested`. The worker runs several at once but requests for one
    title one after the other (runtime/worker.py, ADR 0012), so concurrent requests for a title
    are served once and the rest hit the cache."""

    sink: EventSink
    cache: TitleCache
    find_title: FindTitle
    scraper: TitleScraper
    topics: TopicNames
    stale_after_seconds: float
    clock: Clock = utc_now
    ids: IdFactory = field(default=new_id)

    async def __call__(self, event: Envelope, meta: RecordMeta) -> None:
        if isinstance(event.data, ScrapeRequested):
            await self.run(event, event.data)

    async def run(self, request: Envelope, data: ScrapeRequested) -> None:
        """The job, ended with job.failed INTERNAL_ERROR if it breaks in a way no retry fixes
        (a bug, a table that refuses writes): the request is still dead-lettered (the error is
        raised on), but its subscribers get an end instead of a job left `processing` for ever.
        A retryable failure is only raised: the request is redelivered and the job run again."""
        job = _Job(self, request)
        try:
            await self._run(job, data)
        except AppError as exc:
            if exc.retryable:
                raise
            await job.fail_broken(exc.code.value, exc.message)
            raise
        except Exception as exc:
            await job.fail_broken(ErrorCode.INTERNAL_ERROR.value, f"the worker failed: {type(exc).__name__}")
            raise

    async def _run(self, job: _Job, data: ScrapeRequested) -> None:
        key = title_key(data.country, data.title_id)

        await job.step(JobStep.CHECKING_CACHE)
        cached = self.cache.get(key, self.clock())
        if cached is not None:
            await job.complete(cached, "cache")
            return

        await job.step(JobStep.CHECKING_DATABASE)
        now = self.clock()
        stored = await self.find_title(
            data.country, data.title_id, now - timedelta(seconds=self.stale_after_seconds)
        )
        if stored is not None:
            self.cache.put(key, stored, now)
            await job.complete(stored, "database")
            return

        await job.step(JobStep.SCRAPING_NETFLIX)
        try:
            # Re-parsed here too: the worker trusts nothing but a Netflix title id.
            ref = parse_title_url(data.url)
            title = await self.scraper.scrape(ref)
        except AppError as exc:
            if exc.code is ErrorCode.UNAVAILABLE:
                raise
            log.info("scrape failed job_id=%s key=%s code=%s", data.job_id, key, exc.code.value)
            await job.fail(exc.code.value, exc.message, JobStep.SCRAPING_NETFLIX)
            return

        await job.step(JobStep.SAVING_TO_DATABASE)
        scraped = new_event(
            TitleScraped(
                country=data.country,
                title_id=data.title_id,
                scraped_at=self.clock(),
                title=title,
                job_id=data.job_id,
            ),
            key=key,
            correlation_id=job.request.correlation_id,
            causation_id=job.request.id,
            clock=self.clock,
            ids=self.ids,
        )
        await self.sink.append(self.topics.titles, scraped)
        self.cache.put(key, title, self.clock())
        await job.complete(title, "netflix")


class _Job:
    """The events of one job run. Each step has its fixed sequence number (STEP_SEQUENCE, after
    the gateway's job.created at 1) and the terminal event TERMINAL_SEQUENCE, so a rerun of the
    request that takes a shorter path never reuses a number for other content (ADR 0002)."""

    def __init__(self, runner: ScrapeJobRunner, request: Envelope) -> None:
        self.runner = runner
        self.request = request
        self.data: ScrapeRequested = request.data  # type: ignore[assignment]
        self.progress = 0
        self.current = JobStep.CREATED
        self.ended = False
        # Step-to-step time in this process (perf_counter: the runner's clock may be injected)
        self._last_step_at = time.perf_counter()

    def _step_done(self, step: JobStep) -> None:
        now = time.perf_counter()
        JOB_STEP_SECONDS.labels(step.value).observe(now - self._last_step_at)
        self._last_step_at = now

    def _finished(self, outcome: str, source: str, code: str) -> None:
        """Counted once per terminal event appended: POST (the request's occurredAt) to now."""
        JOBS_FINISHED.labels(outcome, source, code).inc()
        seconds = (self.runner.clock() - self.request.occurred_at).total_seconds()
        JOB_DURATION_SECONDS.labels(outcome, source).observe(max(0.0, seconds))

    async def _append(self, payload: BaseModel, sequence: int, *, wait: bool = True) -> None:
        r = self.runner
        event = new_event(
            payload,
            key=self.data.job_id,
            sequence=sequence,
            correlation_id=self.request.correlation_id or self.data.job_id,
            causation_id=self.request.id,
            clock=r.clock,
            ids=r.ids,
        )
        await r.sink.append(r.topics.job_events, event, wait=wait)

    async def step(self, step: JobStep) -> None:
        """An intermediate step is not awaited: it shares the job's partition (and producer)
        with every later event of the job, so it is stored before them, and the terminal
        event, which is awaited before the request's offset can commit, waits for it too."""
        self.progress = STEP_PROGRESS[step]
        self.current = step
        self._step_done(step)
        await self._append(
            JobProgress(
                job_id=self.data.job_id,
                progress=self.progress,
                status=JobStatus.PROCESSING,
                step=STEP_DESCRIPTION[step],
                step_code=step,
            ),
            STEP_SEQUENCE[step],
            wait=False,
        )

    async def complete(self, title: TitleData, source: Source) -> None:
        self.ended = True
        self._step_done(JobStep.COMPLETED)
        await self._append(
            JobCompleted(job_id=self.data.job_id, source=source, data=title), TERMINAL_SEQUENCE
        )
        self._finished("completed", source, "none")

    async def fail_broken(self, code: str, message: str) -> None:
        """job.failed for a job that broke at its current step, unless it already ended."""
        if self.ended:
            return
        log.error("job broken job_id=%s step=%s code=%s: %s", self.data.job_id, self.current, code, message)
        await self.fail(code, message, self.current)

    async def fail(self, code: str, message: str, failed_step: JobStep) -> None:
        self.ended = True
        self._step_done(JobStep.FAILED)
        await self._append(
            JobFailed(
                job_id=self.data.job_id,
                error=JobError(code=code, message=message),
                progress=self.progress,
                failed_step=failed_step,
            ),
            TERMINAL_SEQUENCE,
        )
        self._finished("failed", "none", code)
