"""One worker runs several scrape jobs at once: a slow title does not hold up the titles behind
it on its partition, one title is still fetched once, and the slow job is not committed (so not
lost) when a later job on its partition finishes first."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from devstack import Services
from streams.topics import TopicNames, title_key
from tests.e2e.jobclient import JobClient
from tests.fakes.netflix_server import FakeNetflix
from tests.support import (
    committed_offsets,
    isolated_settings,
    key_partition,
    start_gateway,
    start_worker,
    title_on,
)

pytestmark = pytest.mark.e2e

COMMIT_INTERVAL = 1.0  # create_app's broker_commit_interval


def url_for(title_id: str) -> str:
    return f"https://www.netflix.com/de/title/{title_id}"


async def test_a_slow_title_does_not_hold_up_its_partition_nor_lose_its_job(
    services: Services, log_dir: Path
) -> None:
    netflix = FakeNetflix(load_fixtures=False)
    settings = isolated_settings(
        services, netflix_base_url=await netflix.start(), scrape_timeout_seconds=30.0
    )
    n = settings.topic_partitions
    slow = title_on(0, n)
    fast = title_on(0, n)  # the same partition: only the agent's concurrency lets it pass
    assert key_partition(title_key("de", fast), n) == key_partition(title_key("de", slow), n)
    for tid in (slow, fast):
        netflix.add_title(f"/de/title/{tid}", title=f"Title {tid}", year=2020, country="de")
    netflix.set_behaviour(f"/de/title/{slow}", delay=20.0)
    worker = await start_worker(settings, log_dir)
    gateway = await start_gateway(settings, log_dir)
    client = await JobClient(f"http://127.0.0.1:{settings.port}", "test-key").connect()
    try:
        slow_job = await client.run_job(url_for(slow))  # offset 0 of partition 0
        # Twelve requests for the fast title behind it (offsets 1..12): they run while the slow
        # one waits for Netflix, and still fetch their title once.
        fast_jobs = await asyncio.gather(*(client.run_job(url_for(fast)) for _ in range(12)))
        sources = []
        for job in fast_jobs:
            await client.finished(job)
            kind, payload = client.terminal(job)
            assert kind == "job:completed", payload
            sources.append(payload["source"])
        assert sorted(sources) == ["cache"] * 11 + ["netflix"]
        assert netflix.requests_for(fast) == 1
        assert not client.ended[slow_job].is_set()

        # The later records are done and acknowledged, the first is not: give the commit loop
        # a couple of rounds to (wrongly) move past it, then look.
        await asyncio.sleep(2.5 * COMMIT_INTERVAL)
        assert not client.ended[slow_job].is_set()
        topic = TopicNames(settings.topic_prefix).scrape_requests
        assert (await committed_offsets(settings, topic)).get(0, 0) == 0

        # Stopped mid-job, the slow request is read again by the next worker and completes.
        assert worker.stop() is not None
        netflix.reset()  # Netflix answers at once now
        worker = await start_worker(settings, log_dir)
        await client.finished(slow_job)
        kind, payload = client.terminal(slow_job)
        assert (kind, payload["source"]) == ("job:completed", "netflix"), payload
        assert netflix.requests_for(slow) == 1  # since the reset: fetched again, once
    finally:
        await client.close()
        gateway.stop()
        worker.stop()
        await netflix.stop()
