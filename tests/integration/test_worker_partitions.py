"""The worker and topics made with another partition count: an old deployment keeps working
with its own count; a title cache that cannot match its source topic stops the worker at start,
with the reason, instead of failing every job at its first cache write."""

from __future__ import annotations

from pathlib import Path

import pytest

from streams.admin import deployment_topics, ensure_topics
from streams.settings import Settings
from streams.topics import TopicNames
from tests.support import ServiceProcess, eventually, start_worker

pytestmark = pytest.mark.integration


def changelog_of(settings: Settings) -> str:
    return f"{settings.topic_prefix}{settings.app_id}-title-cache-changelog"


async def test_topics_made_with_one_partition_keep_working_with_the_new_default(
    settings: Settings, log_dir: Path
) -> None:
    assert settings.topic_partitions == 6
    names = TopicNames(settings.topic_prefix)
    await ensure_topics(
        settings.kafka_bootstrap_servers, [*deployment_topics(names), changelog_of(settings)], partitions=1
    )
    worker = await start_worker(settings, log_dir)
    try:
        await worker.wait_for_log(rf"partitions ready topic={names.scrape_requests} partitions=\[0\]")
    finally:
        worker.stop()


async def test_a_changelog_that_cannot_match_its_topic_stops_the_worker(
    settings: Settings, log_dir: Path
) -> None:
    names = TopicNames(settings.topic_prefix)
    await ensure_topics(settings.kafka_bootstrap_servers, deployment_topics(names), partitions=1)
    await ensure_topics(settings.kafka_bootstrap_servers, [changelog_of(settings)], partitions=6)
    worker = ServiceProcess("worker", ["-m", "runtime", "worker"], settings, log_dir).start()
    try:
        assert worker.proc is not None
        proc = worker.proc
        await eventually(lambda: proc.poll() is not None, timeout=60, what="the worker stopping")
        assert proc.poll() != 0
        assert (
            f"the title cache's changelog {changelog_of(settings)} has 6 partitions but "
            f"{names.scrape_requests} has 1: they must match"
        ) in worker.log()
    finally:
        worker.stop()
