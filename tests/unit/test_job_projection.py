"""The jobs and titles read models are pure folds: idempotent, order-safe, replayable."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from projections import jobs, titles
from streams.events import Envelope, new_event
from streams.events.netflix import (
    JobCompleted,
    JobCreated,
    JobError,
    JobFailed,
    JobProgress,
    JobStatus,
    JobStep,
    TitleData,
    TitleScraped,
)

pytestmark = pytest.mark.unit
T0 = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
TITLE = TitleData(
    title="A Man Called Otto",
    year=2022,
    title_id="81616256",
    country="tr",
    url="https://www.netflix.com/tr/title/81616256",
)


def ev(data: object, seq: int, minutes: int = 0, key: str = "j1") -> Envelope:
    return new_event(data, key=key, sequence=seq, clock=lambda: T0 + timedelta(minutes=minutes))  # type: ignore[arg-type]


def job_events() -> list[Envelope]:
    def progress(step: JobStep, p: int) -> JobProgress:
        return JobProgress(
            job_id="j1", progress=p, status=JobStatus.PROCESSING, step=step.value, step_code=step
        )

    return [
        ev(JobCreated(job_id="j1", url="u", country="tr", title_id="81616256"), 1, 0),
        ev(progress(JobStep.CHECKING_CACHE, 10), 2, 1),
        ev(progress(JobStep.CHECKING_DATABASE, 30), 3, 2),
        ev(JobCompleted(job_id="j1", source="database", data=TITLE), 4, 3),
    ]


def fold(events: list[Envelope]) -> dict | None:
    state = None
    for e in events:
        state = jobs.apply(state, e)
    return state


def test_fold_reaches_the_final_state() -> None:
    state = fold(job_events())
    assert state is not None
    assert (state["status"], state["progress"], state["source"]) == ("completed", 100, "database")
    assert [s["progress"] for s in state["steps"]] == [0, 10, 30, 100]
    assert state["result"]["title"] == "A Man Called Otto"
    assert state["url"] == "u"


def test_every_event_twice_gives_the_same_document() -> None:
    events = job_events()
    assert fold([e for e in events for _ in (0, 1)]) == fold(events)


def test_order_does_not_change_the_document() -> None:
    events = job_events()
    expected = fold(events)
    rng = random.Random(7)
    for _ in range(20):
        shuffled = events[:]
        rng.shuffle(shuffled)
        assert fold(shuffled) == {**expected, "createdAt": expected["createdAt"]}


def test_failed_job_keeps_the_error() -> None:
    events = job_events()[:2] + [
        ev(JobFailed(job_id="j1", error=JobError(code="TIMEOUT", message="slow"), progress=50), 3, 2)
    ]
    state = fold(events)
    assert state["status"] == "failed"
    assert state["error"] == {"code": "TIMEOUT", "message": "slow"}
    assert state["result"] is None


def test_titles_keep_the_newest_scrape() -> None:
    def scraped(minutes: int, name: str) -> Envelope:
        return ev(
            TitleScraped(
                country="tr",
                title_id="81616256",
                scraped_at=T0 + timedelta(minutes=minutes),
                title=TITLE.model_copy(update={"title": name}),
            ),
            0,
            minutes,
            key="tr:81616256",
        )

    new, old = scraped(10, "new"), scraped(5, "old")
    assert titles.doc_id(new) == "tr:81616256"
    state = titles.apply(titles.apply(None, new), old)
    assert state["title"]["title"] == "new"
    assert titles.apply(state, new) == state
