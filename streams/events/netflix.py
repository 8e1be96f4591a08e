"""Payloads of the Netflix title-job events (`netflix.*` topics)."""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import Field

from streams.events.base import Payload, UtcTime


class JobStatus(StrEnum):
    PENDING = "pending"
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"


class JobStep(StrEnum):
    """Job steps in order; each is one `job.progress` (or `job.created`/`job.completed`) event."""

    CREATED = "created"
    CHECKING_CACHE = "checking_cache"
    CHECKING_DATABASE = "checking_database"
    SCRAPING_NETFLIX = "scraping_netflix"
    SAVING_TO_DATABASE = "saving_to_database"
    COMPLETED = "completed"
    FAILED = "failed"


STEP_PROGRESS: dict[JobStep, int] = {
    JobStep.CREATED: 0,
    JobStep.CHECKING_CACHE: 10,
    JobStep.CHECKING_DATABASE: 30,
    JobStep.SCRAPING_NETFLIX: 50,
    JobStep.SAVING_TO_DATABASE: 80,
    JobStep.COMPLETED: 100,
}

# The `sequence` of each step's event, whatever path the job takes (a cache hit goes 1, 2, 6).
# A request run again after a worker died takes the path the log allows then, which can be
# shorter (the first run stored the title before dying): its terminal event must never reuse a
# number a step of the first run already holds, or readers (which dedupe by sequence) drop it
# and the job never ends. Steps along any path are a prefix of this order, so they stay 1..k.
STEP_SEQUENCE: dict[JobStep, int] = {
    JobStep.CREATED: 1,
    JobStep.CHECKING_CACHE: 2,
    JobStep.CHECKING_DATABASE: 3,
    JobStep.SCRAPING_NETFLIX: 4,
    JobStep.SAVING_TO_DATABASE: 5,
}
# job.completed / job.failed, above every step: a job has one terminal event, at this number.
TERMINAL_SEQUENCE = 6

STEP_DESCRIPTION: dict[JobStep, str] = {
    JobStep.CREATED: "Job created",
    JobStep.CHECKING_CACHE: "Checking cache",
    JobStep.CHECKING_DATABASE: "Checking database",
    JobStep.SCRAPING_NETFLIX: "Scraping Netflix",
    JobStep.SAVING_TO_DATABASE: "Saving to database",
    JobStep.COMPLETED: "Completed",
    JobStep.FAILED: "Failed",
}

Source = Literal["cache", "database", "netflix"]


class TitleData(Payload):
    """A scraped title: the seed's GetInfoResponse plus what the page also tells."""

    title: str
    year: int | None = None
    plot: str | None = None
    genres: list[str] = Field(default_factory=list)
    cast: list[str] = Field(default_factory=list)
    backdrop: str | None = None
    type: Literal["movie", "series"] | None = None
    maturity_rating: str | None = None
    seasons: int | None = None
    directors: list[str] = Field(default_factory=list)
    creators: list[str] = Field(default_factory=list)
    title_id: str
    country: str
    url: str


class JobError(Payload):
    code: str
    message: str


class ScrapeRequested(Payload):
    """A client asked for a title; the scrape agent owns the job from here."""

    job_id: str
    url: str
    country: str
    title_id: str
    requested_at: UtcTime


class JobCreated(Payload):
    job_id: str
    url: str
    country: str
    title_id: str
    status: JobStatus = JobStatus.PENDING
    progress: int = 0
    step_code: JobStep = JobStep.CREATED
    step: str = STEP_DESCRIPTION[JobStep.CREATED]


class JobProgressV1(Payload):
    """v1 (superseded): `step` carried the step code, with no description."""

    job_id: str
    progress: int
    status: JobStatus
    step: str


class JobProgress(Payload):
    """v2: `step` is the human description (as the seed's example), `stepCode` the code."""

    job_id: str
    progress: int
    status: JobStatus
    step: str
    step_code: JobStep


class JobCompleted(Payload):
    job_id: str
    source: Source
    data: TitleData
    progress: int = 100
    status: JobStatus = JobStatus.COMPLETED
    step_code: JobStep = JobStep.COMPLETED
    step: str = STEP_DESCRIPTION[JobStep.COMPLETED]


class JobFailed(Payload):
    job_id: str
    error: JobError
    progress: int
    status: JobStatus = JobStatus.FAILED
    step_code: JobStep = JobStep.FAILED
    step: str = STEP_DESCRIPTION[JobStep.FAILED]
    failed_step: JobStep | None = None


class TitleScraped(Payload):
    """A title was fetched from Netflix and parsed; the titles read model is folded from these."""

    country: str
    title_id: str
    scraped_at: UtcTime
    title: TitleData
    job_id: str | None = None
