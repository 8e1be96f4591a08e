"""Scraper politeness and concurrent scraping, through a real worker and gateway against the fake
Netflix (issue 13, must-show 3):

- 100 fresh titles under a cap of 4 concurrent fetches never see more than 4 in flight at the
  server (and more than 1, so there is concurrency to cap), while a high cap lets more through;
- a 429 with `Retry-After: 2` pauses every fetch of the worker for 2 s, then they resume;
- repeated 403s open the breaker: later jobs fail fast with SCRAPE_ERROR and the reason, with no
  request reaching the server, and after the open period one probe goes out;
- the worker runs jobs concurrently, yet commits a partition's offset only past finished jobs:
  a slow job overtaken by later ones is not committed, and after a stop it runs again."""

from __future__ import annotations

import asyncio
import dataclasses
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiokafka import TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from devstack import Services
from streams.settings import Settings
from streams.topics import TopicNames, title_key
from tests.e2e.jobclient import JobClient
from tests.fakes.netflix_server import FakeNetflix
from tests.support import (
    ServiceProcess,
    eventually,
    isolated_settings,
    key_partition,
    start_gateway,
    start_worker,
    title_on,
)

pytestmark = pytest.mark.integration

COMMIT_INTERVAL = 1.0  # runtime.faust_app.create_app's broker_commit_interval


def url_for(title_id: str) -> str:
    return f"https://www.netflix.com/de/title/{title_id}"


@dataclass
class Stack:
    settings: Settings
    netflix: FakeNetflix
    worker: ServiceProcess
    gateway: ServiceProcess
    client: JobClient
    log_dir: Path

    def fresh_titles(self, n: int) -> list[str]:
        titles = [
            title_on(i % self.settings.topic_partitions, self.settings.topic_partitions) for i in range(n)
        ]
        for tid in titles:
            self.netflix.add_title(f"/de/title/{tid}", title=f"Title {tid}", year=2021, country="de")
        return titles

    async def restart_worker(self, **overrides: object) -> None:
        assert self.worker.stop() is not None
        self.settings = dataclasses.replace(self.settings, **overrides)  # type: ignore[arg-type]
        self.worker = await start_worker(self.settings, self.log_dir)

    async def run(self, title_id: str, timeout: float = 60) -> tuple[str, dict[str, Any]]:
        job = await self.client.run_job(url_for(title_id))
        await self.client.finished(job, timeout=timeout, settle=0)
        return self.client.terminal(job)


@pytest.fixture
async def stack(services: Services, log_dir: Path, request: pytest.FixtureRequest) -> AsyncIterator[Stack]:
    netflix = FakeNetflix(load_fixtures=False)
    overrides = {
        "netflix_base_url": await netflix.start(),
        "scrape_timeout_seconds": 10.0,
        "scrape_concurrency": 32,
        "scrape_max_fetches_per_second": 0.0,  # the cap and the pause alone, in these tests
        "job_rate_limit_per_second": 0.0,  # 200 jobs posted at once by one key
        **getattr(request, "param", {}),
    }
    settings = isolated_settings(services, **overrides)
    worker = await start_worker(settings, log_dir)
    gateway = await start_gateway(settings, log_dir)
    client = await JobClient(f"http://127.0.0.1:{settings.port}", "test-key").connect()
    s = Stack(settings, netflix, worker, gateway, client, log_dir)
    try:
        yield s
    finally:
        await client.close()
        s.gateway.stop()
        s.worker.stop()
        await netflix.stop()


async def run_all(stack: Stack, titles: list[str]) -> None:
    jobs = await asyncio.gather(*(stack.client.run_job(url_for(t)) for t in titles))
    for job in jobs:
        await stack.client.finished(job, timeout=120, settle=0)
        kind, payload = stack.client.terminal(job)
        assert (kind, payload.get("source")) == ("job:completed", "netflix"), payload
    assert {t: stack.netflix.requests_for(t) for t in titles} == dict.fromkeys(titles, 1)


@pytest.mark.parametrize("stack", [{"scrape_max_concurrent_fetches": 4}], indirect=True)
async def test_100_fresh_titles_never_see_more_than_4_fetches_in_flight(stack: Stack) -> None:
    stack.netflix.set_global_behaviour(delay=0.3)  # each page takes a while: fetches overlap
    await run_all(stack, stack.fresh_titles(100))
    assert 1 < stack.netflix.max_in_flight <= 4, stack.netflix.max_in_flight

    # The same worker without that cap: the jobs' own concurrency shows at the server.
    await stack.restart_worker(scrape_max_concurrent_fetches=64)
    stack.netflix.reset()
    stack.netflix.set_global_behaviour(delay=0.3)
    await run_all(stack, stack.fresh_titles(100))
    assert stack.netflix.max_in_flight > 4, stack.netflix.max_in_flight


async def test_a_429_with_retry_after_2_pauses_every_fetch_for_2_seconds(stack: Stack) -> None:
    netflix = stack.netflix
    first, *others = stack.fresh_titles(9)
    netflix.set_global_behaviour(status=429, fail_times=1, headers={"Retry-After": "2"})
    job = await stack.client.run_job(url_for(first))
    answered = await eventually(
        lambda: [a for a in netflix.answers if a.status == 429], timeout=30, interval=0.02, what="the 429"
    )
    paused_at = answered[0].at
    # Eight more jobs arrive while the worker is paused: none of them may fetch before it ends.
    jobs = [job, *await asyncio.gather(*(stack.client.run_job(url_for(t)) for t in others))]
    for j in jobs:
        await stack.client.finished(j, timeout=60, settle=0)
        assert stack.client.terminal(j)[0] == "job:completed", stack.client.terminal(j)

    after = sorted(r.at - paused_at for r in netflix.requests if r.at > paused_at)
    assert len(after) == 9  # the first job's retry and the eight others, once each
    assert after[0] >= 2.0 - 0.02, after  # nothing in the 2 s after the 429
    assert after[0] < 2.0 + 5.0, after  # and then they resume (generous: a loaded machine)
    assert all(netflix.requests_for(t) == 1 for t in others)
    assert netflix.requests_for(first) == 2


BREAKER = {"scrape_breaker_threshold": 3, "scrape_breaker_open_seconds": 3.0}
PAUSED = re.compile(r"Netflix fetches paused after 3 consecutive 403/429 responses; next try in (\d+) s")


@pytest.mark.parametrize("stack", [BREAKER], indirect=True)
async def test_repeated_403s_open_the_breaker_then_a_probe_goes_out(stack: Stack) -> None:
    netflix = stack.netflix
    titles = iter(stack.fresh_titles(9))
    netflix.set_global_behaviour(status=403)
    for _ in range(3):
        kind, payload = await stack.run(next(titles))
        assert kind == "job:error"
        assert payload["error"] == {"code": "SCRAPE_ERROR", "message": "Failed to fetch Netflix page: 403"}
    assert netflix.total_requests == 3

    # Open: the job fails at once, says why, and nothing reaches Netflix.
    kind, payload = await stack.run(next(titles))
    assert kind == "job:error" and payload["error"]["code"] == "SCRAPE_ERROR", payload
    match = PAUSED.fullmatch(payload["error"]["message"])
    assert match is not None, payload
    assert netflix.total_requests == 3

    # After the open period one probe goes out; still blocked, so the breaker opens again.
    await asyncio.sleep(int(match[1]) + 0.2)
    kind, payload = await stack.run(next(titles))
    assert payload["error"]["message"] == "Failed to fetch Netflix page: 403", payload
    assert netflix.total_requests == 4
    kind, payload = await stack.run(next(titles))
    assert PAUSED.fullmatch(payload["error"]["message"]), payload
    assert netflix.total_requests == 4

    # Netflix answers again: the next probe succeeds and closes the breaker.
    netflix.set_global_behaviour()
    await asyncio.sleep(BREAKER["scrape_breaker_open_seconds"] + 0.2)
    for _ in range(2):
        kind, payload = await stack.run(next(titles))
        assert (kind, payload.get("source")) == ("job:completed", "netflix"), payload
    assert netflix.total_requests == 6


async def committed(settings: Settings, topic: str, partition: int) -> int | None:
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap_servers)
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(settings.topic_prefix + settings.app_id)
    finally:
        await admin.close()
    meta = offsets.get(TopicPartition(topic, partition))
    return meta.offset if meta is not None and meta.offset >= 0 else None


@pytest.mark.parametrize("stack", [{"scrape_timeout_seconds": 30.0}], indirect=True)
async def test_a_slow_job_overtaken_on_its_partition_is_not_committed_and_runs_again_after_a_stop(
    stack: Stack,
) -> None:
    netflix, client, n = stack.netflix, stack.client, stack.settings.topic_partitions
    slow, fast = title_on(0, n), title_on(0, n)  # one partition: only the agent's concurrency lets fast pass
    assert key_partition(title_key("de", fast), n) == key_partition(title_key("de", slow), n) == 0
    for tid in (slow, fast):
        netflix.add_title(f"/de/title/{tid}", title=f"Title {tid}", year=2020, country="de")
    netflix.set_behaviour(f"/de/title/{slow}", delay=30.0)

    slow_job = await client.run_job(url_for(slow))  # offset 0 of partition 0
    await eventually(
        lambda: netflix.requests_for(slow) == 1, timeout=30, interval=0.05, what="the slow fetch"
    )
    # Twelve requests for one fast title behind it (offsets 1..12): they run meanwhile, and one
    # title is still fetched once (the others wait for its turn, then hit the cache).
    fast_jobs = await asyncio.gather(*(client.run_job(url_for(fast)) for _ in range(12)))
    sources = []
    for job in fast_jobs:
        await client.finished(job, settle=0)
        kind, payload = client.terminal(job)
        assert kind == "job:completed", payload
        sources.append(payload["source"])
    assert sorted(sources) == ["cache"] * 11 + ["netflix"]
    assert netflix.requests_for(fast) == 1

    # Later records done, the first not: give the commit loop a few rounds to (wrongly) pass it.
    await asyncio.sleep(3 * COMMIT_INTERVAL)
    assert not client.ended[slow_job].is_set()
    topic = TopicNames(stack.settings.topic_prefix).scrape_requests
    assert await committed(stack.settings, topic, 0) in (None, 0)

    # Stopped mid-job, the slow request is read again by the next worker, and now completes.
    netflix.reset()  # Netflix answers at once now
    await stack.restart_worker()
    await client.finished(slow_job, timeout=60, settle=0)
    kind, payload = client.terminal(slow_job)
    assert (kind, payload["source"]) == ("job:completed", "netflix"), payload
    assert netflix.requests_for(slow) == 1  # since the reset: fetched again, once
    # and the fast ones, done before the stop but never committed, ran again from the cache
    assert netflix.requests_for(fast) == 0

    # Everything ended: the partition is committed past all 13 requests (acks do happen).
    async def all_committed() -> bool:
        return await committed(stack.settings, topic, 0) == 13

    await eventually(all_committed, timeout=30, interval=0.5, what="offset 13 committed on partition 0")
