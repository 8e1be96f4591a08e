"""Several worker processes on one deployment: the consumer group splits the partitions between
them, a title is still fetched once, and a worker leaving does not cost the title cache."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from devstack import Services
from streams.settings import Settings
from streams.topics import TopicNames
from tests.e2e.jobclient import JobClient
from tests.fakes.netflix_server import FakeNetflix
from tests.support import (
    ServiceProcess,
    eventually,
    group_assignment,
    isolated_settings,
    start_gateway,
    start_worker,
    title_on,
)

pytestmark = pytest.mark.e2e


def url_for(title_id: str, country: str = "de") -> str:
    return f"https://www.netflix.com/{country}/title/{title_id}"


async def scrape_partitions(settings: Settings, members: int) -> list[set[int]]:
    """Once the group is stable with `members` members, each one's share of the scrape topic."""
    topic = TopicNames(settings.topic_prefix).scrape_requests

    async def shares() -> list[set[int]] | None:
        group = await group_assignment(settings)
        found = [parts.get(topic, set()) for parts in group.values()]
        return found if len(found) == members and all(found) else None

    return await eventually(shares, timeout=60, interval=0.5, what=f"{members} workers sharing {topic}")


@dataclass
class Pair:
    settings: Settings
    netflix: FakeNetflix
    workers: list[ServiceProcess]
    client: JobClient


@pytest.fixture(scope="module")
async def pair(services: Services, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Pair]:
    """Two workers and a gateway on one deployment, the group settled before any test runs."""
    netflix = FakeNetflix(load_fixtures=False)
    settings = isolated_settings(services, netflix_base_url=await netflix.start())
    log_dir = tmp_path_factory.mktemp("worker-pair")
    workers = [await start_worker(settings, log_dir, "worker-a")]
    gateway = await start_gateway(settings, log_dir)
    try:
        workers.append(await start_worker(settings, log_dir, "worker-b"))
        await scrape_partitions(settings, 2)
        client = await JobClient(f"http://127.0.0.1:{settings.port}", "test-key").connect()
        yield Pair(settings, netflix, workers, client)
        await client.close()
    finally:
        gateway.stop()
        for worker in workers:
            worker.stop()
        await netflix.stop()


async def test_two_workers_split_the_partitions_and_both_serve_jobs(pair: Pair) -> None:
    n = pair.settings.topic_partitions
    shares = await scrape_partitions(pair.settings, 2)
    assert shares[0].isdisjoint(shares[1])
    assert shares[0] | shares[1] == set(range(n))
    for worker in pair.workers:
        await worker.wait_for_log(r"partitions ready topic=\S+ partitions=\[\d")

    # One title on a partition of each member: each job completes, so each worker served one.
    titles = [title_on(min(share), n) for share in shares]
    for tid in titles:
        pair.netflix.add_title(f"/de/title/{tid}", title=f"Title {tid}", year=2020, country="de")
    jobs = [await pair.client.run_job(url_for(tid)) for tid in titles]
    for job in jobs:
        await pair.client.finished(job)
        kind, payload = pair.client.terminal(job)
        assert (kind, payload["source"]) == ("job:completed", "netflix")
    assert [pair.netflix.requests_for(tid) for tid in titles] == [1, 1]
    # Still the same split: no rebalance moved a title between the workers meanwhile.
    assert sorted(map(sorted, await scrape_partitions(pair.settings, 2))) == sorted(map(sorted, shares))


async def test_concurrent_jobs_for_one_title_fetch_it_once_with_two_workers(pair: Pair) -> None:
    tid = title_on(random.randrange(pair.settings.topic_partitions), pair.settings.topic_partitions)
    pair.netflix.add_title(f"/de/title/{tid}", title="Popular", year=2021, country="de")
    # A slow page: every job is queued while the first one is still scraping.
    pair.netflix.set_behaviour(f"/de/title/{tid}", delay=0.5)
    jobs = await asyncio.gather(*(pair.client.run_job(url_for(tid)) for _ in range(12)))
    sources = []
    for job in jobs:
        await pair.client.finished(job)
        kind, payload = pair.client.terminal(job)
        assert kind == "job:completed", payload
        sources.append(payload["source"])
    assert len(set(jobs)) == 12
    assert pair.netflix.requests_for(tid) == 1
    assert sorted(sources) == ["cache"] * 11 + ["netflix"]


async def test_the_title_cache_survives_its_worker_leaving(services: Services, log_dir: Path) -> None:
    netflix = FakeNetflix(load_fixtures=False)
    # Titles are never "fresh" in the database here, so only the cache can avoid a new fetch.
    settings = isolated_settings(
        services,
        netflix_base_url=await netflix.start(),
        cache_ttl_seconds=600.0,
        title_stale_after_seconds=0.0,
    )
    n = settings.topic_partitions
    titles = [title_on(p, n) for p in range(n)]  # one title per partition: every one moves
    for tid in titles:
        netflix.add_title(f"/de/title/{tid}", title=f"Title {tid}", year=2020, country="de")
    worker_a = await start_worker(settings, log_dir, "worker-a")
    gateway = await start_gateway(settings, log_dir)
    client = await JobClient(f"http://127.0.0.1:{settings.port}", "test-key").connect()
    worker_b: ServiceProcess | None = None
    try:

        async def run_all(expected: str) -> None:
            jobs = await asyncio.gather(*(client.run_job(url_for(tid)) for tid in titles))
            for job in jobs:
                await client.finished(job)
                kind, payload = client.terminal(job)
                assert (kind, payload["source"]) == ("job:completed", expected), payload
                if expected == "cache":
                    assert client.progress(job) == [0, 10, 100]

        await run_all("netflix")  # worker A alone: it fills the cache for every partition
        worker_b = await start_worker(settings, log_dir, "worker-b")
        await scrape_partitions(settings, 2)
        await run_all("cache")  # B's share was recovered from the changelog when it got it

        assert worker_a.stop() is not None  # a clean stop leaves the group at once
        [only] = await scrape_partitions(settings, 1)
        assert only == set(range(n))
        await run_all("cache")  # B alone now: A's share, cache and all, moved to it
        assert [netflix.requests_for(tid) for tid in titles] == [1] * n
    finally:
        await client.close()
        gateway.stop()
        worker_a.stop()
        if worker_b is not None:
            worker_b.stop()
        await netflix.stop()
