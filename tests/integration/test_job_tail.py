"""The gateway's job-event tail on the real broker: it skips a record it cannot deliver and goes
on, and says loudly when it dies."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import pytest
from aiokafka import AIOKafkaProducer

from gateway.realtime.jobtail import JobEventTail
from streams.events import Envelope, encode, new_event
from streams.events.netflix import JobCreated
from streams.settings import Settings
from streams.topics import TopicNames
from tests.support import eventually

pytestmark = pytest.mark.integration


class Fatal(BaseException):
    """Not an Exception: what the tail must not swallow."""


def created(job_id: str) -> Envelope:
    return new_event(
        JobCreated(job_id=job_id, url="u", country="tr", title_id="1"),
        key=job_id,
        sequence=1,
        clock=lambda: datetime(2026, 5, 1, tzinfo=UTC),
    )


async def produce(settings: Settings, topic: str, values: list[bytes]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap_servers)
    await producer.start()
    try:
        for value in values:
            await producer.send_and_wait(topic, value, key=b"k")
    finally:
        await producer.stop()


async def test_a_bad_record_is_skipped_and_a_fatal_one_is_loud(
    settings: Settings, topics: TopicNames, caplog: pytest.LogCaptureFixture
) -> None:
    delivered: list[str] = []

    async def deliver(event: Envelope) -> None:
        if event.key == "boom":
            raise RuntimeError("cannot emit")
        if event.key == "fatal":
            raise Fatal
        delivered.append(event.key)

    tail = JobEventTail(settings.kafka_bootstrap_servers, topics.job_events, deliver)
    await tail.start()
    try:
        with caplog.at_level(logging.WARNING, logger="gateway.realtime.jobtail"):
            await produce(
                settings, topics.job_events, [b"not json", encode(created("boom")), encode(created("fine"))]
            )
            await eventually(lambda: delivered == ["fine"], what="the record after the bad ones")
            assert tail.running
            await produce(settings, topics.job_events, [encode(created("fatal"))])
            await eventually(lambda: not tail.running, what="the tail to die")
        levels = {r.levelno for r in caplog.records}
        assert logging.CRITICAL in levels and logging.ERROR in levels
        assert any("died" in r.getMessage() for r in caplog.records if r.levelno == logging.CRITICAL)
    finally:
        await tail.stop()
