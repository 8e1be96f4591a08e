"""SIGKILL a worker under load: with two workers the survivor takes its partitions (the title
cache too, recovered from its changelog: ADR 0009); with the only one, a new worker picks up the
requests the dead one had not finished (ADR 0002). Every job ends, once, for every client."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from devstack import Services
from projections.queries import find_fresh_title, get_job
from projections.store import MongoStore
from streams.events import new_event
from streams.events.envelope import utc_now
from streams.events.netflix import (
    STEP_DESCRIPTION,
    STEP_PROGRESS,
    JobCreated,
    JobProgress,
    JobStatus,
    JobStep,
    ScrapeRequested,
    TitleData,
    TitleScraped,
)
from streams.settings import Settings
from streams.topics import TopicNames, title_key
from tests.fakes.netflix_server import FakeNetflix
from tests.faults.harness import CACHED, Job, LoadDriver, Mix, Planned, check_outcome, rebuild_verify
from tests.integration.replay_cli import produce, wire
from tests.support import (
    UNTHROTTLED,
    ServiceProcess,
    eventually,
    group_assignment,
    isolated_settings,
    key_partition,
    start_gateway,
    start_worker,
    title_on,
    unique,
)

pytestmark = [pytest.mark.faults, pytest.mark.timeout(600)]

# The load: fresh titles served slowly, cache hits on titles cached before the load, 403s.
# Each worker runs one job at a time (ADR 0009), so this is minutes of work for two workers.
FRESH, HITS, FORBIDDEN, DELAY = 150, 300, 50, 0.3


@dataclass
class Deployment:
    settings: Settings
    netflix: FakeNetflix
    log_dir: Path
    gateway: ServiceProcess
    workers: list[ServiceProcess]
    driver: LoadDriver


@pytest.fixture
async def deployment(services: Services, tmp_path: Path) -> AsyncIterator[Deployment]:
    """One gateway, no worker yet. Titles are never fresh in the database (stale after 0 s), so
    only the title cache can spare a fetch: a cache lost with a worker shows as a second fetch."""
    netflix = FakeNetflix(load_fixtures=False)
    settings = isolated_settings(
        services,
        netflix_base_url=await netflix.start(),
        cache_ttl_seconds=3600.0,
        title_stale_after_seconds=0.0,
        **UNTHROTTLED,  # 8 clients follow up to 1,000 subscriptions, many pending while no worker runs
    )
    gateway = await start_gateway(settings, tmp_path)
    driver = LoadDriver([f"http://127.0.0.1:{settings.port}"], "test-key", clients=8)
    d = Deployment(settings, netflix, tmp_path, gateway, [], driver)
    try:
        yield d
    finally:
        await driver.close()
        gateway.stop()
        for worker in d.workers:
            worker.stop()
        await netflix.stop()


async def scrape_shares(settings: Settings, members: int) -> list[set[int]]:
    topic = TopicNames(settings.topic_prefix).scrape_requests

    async def shares() -> list[set[int]]:
        found = [parts.get(topic, set()) for parts in (await group_assignment(settings)).values()]
        return found if len(found) == members and all(found) else []

    return await eventually(shares, timeout=90, interval=0.5, what=f"{members} workers sharing {topic}")


def ended_jobs(driver: LoadDriver) -> int:
    """Jobs whose terminal event reached every client following them."""
    return sum(
        1
        for job in driver.jobs.values()
        if job.clients and all(driver.clients[i].ended(job.job_id) for i in job.clients)
    )


async def scrape_backlog(d: Deployment) -> str:
    """For a failure message: per scrape-requests partition, the group's committed offset, the
    end offset, and how many unfinished jobs have their request there."""
    topic = TopicNames(d.settings.topic_prefix).scrape_requests
    n = d.settings.topic_partitions
    unfinished = Counter(
        key_partition(title_key("de", job.planned.url.rsplit("/", 1)[1]), n)
        for job in d.driver.jobs.values()
        if not all(d.driver.clients[i].ended(job.job_id) for i in job.clients)
    )
    admin = AIOKafkaAdminClient(bootstrap_servers=d.settings.kafka_bootstrap_servers)
    consumer = AIOKafkaConsumer(bootstrap_servers=d.settings.kafka_bootstrap_servers)
    await admin.start()
    await consumer.start()
    try:
        committed = await admin.list_consumer_group_offsets(d.settings.topic_prefix + d.settings.app_id)
        parts = [TopicPartition(topic, p) for p in range(n)]
        ends = await consumer.end_offsets(parts)
    finally:
        await consumer.stop()
        await admin.close()
    rows = [
        f"  p{tp.partition}: committed={committed[tp].offset if tp in committed else None}"
        f" end={ends[tp]} unfinished_jobs={unfinished.get(tp.partition, 0)}"
        for tp in parts
    ]
    return f"{topic}:\n" + "\n".join(rows)


async def task_dump(worker: ServiceProcess) -> str:
    """Every asyncio task's stack in a worker that went idle (mode's Worker logs them on SIGUSR1)."""
    if worker.proc is None or worker.proc.poll() is not None:
        return f"{worker.name} is not running"
    before = len(worker.log())
    os.kill(worker.proc.pid, signal.SIGUSR1)
    await asyncio.sleep(3)
    return f"{worker.name} ({worker.log_path}) tasks on SIGUSR1:\n{worker.log()[before:][-20000:]}"


def scraping(driver: LoadDriver) -> set[str]:
    """Jobs whose newest step a client saw is scraping_netflix (the slow page is being fetched)."""
    return {
        job_id
        for c in driver.clients
        for job_id, events in c.events.items()
        if events and events[-1][1].get("stepCode") == "scraping_netflix"
    }


async def kill_when(
    driver: LoadDriver, victim: ServiceProcess, fraction: float, total: int
) -> dict[str, Any]:
    """SIGKILL `victim` once `fraction` of the `total` jobs ended, at a moment a job is being
    scraped (its page takes DELAY s, so the worker is inside it); what was in flight then."""
    await eventually(lambda: ended_jobs(driver) >= fraction * total, timeout=300, interval=0.1, what="load")
    await eventually(lambda: scraping(driver), timeout=60, interval=0.02, what="a job at scraping_netflix")
    assert victim.proc is not None
    os.kill(victim.proc.pid, signal.SIGKILL)
    return {
        "ended_at_kill": ended_jobs(driver),
        "posted_at_kill": len(driver.jobs),
        "mid_scrape": scraping(driver),
    }


async def warm_titles(d: Deployment, mix: Mix) -> list[str]:
    """Two titles per partition, scraped once before the load: the cache hits of the mix."""
    n = d.settings.topic_partitions
    titles = [mix.title(title_id=title_on(p % n, n)) for p in range(2 * n)]
    await d.driver.run_all([Planned(mix.url(t), "fresh") for t in titles])
    await d.driver.wait_all_ended(120, settle=0)
    return titles


async def test_sigkill_one_of_two_workers_mid_load(deployment: Deployment) -> None:
    d, began = deployment, time.monotonic()
    d.workers += [await start_worker(d.settings, d.log_dir, "worker-a")]
    d.workers += [await start_worker(d.settings, d.log_dir, "worker-b")]
    await scrape_shares(d.settings, 2)
    await d.driver.start()
    mix = Mix(d.netflix)
    warm = await warm_titles(d, mix)

    # worker-b's share (its last "partitions ready" line): the cache entries that must move
    ready = re.findall(r"partitions ready topic=\S+ partitions=\[([\d, ]*)\]", d.workers[1].log())
    victim_share = {int(p) for p in ready[-1].split(",") if p.strip()}
    n = d.settings.topic_partitions
    moved = [t for t in warm if key_partition(title_key("de", t), n) in victim_share]
    assert moved, (victim_share, warm)

    plan = mix.build(fresh=FRESH, cached=HITS, forbidden=FORBIDDEN, delay=DELAY, warm=warm)
    posting = asyncio.create_task(d.driver.run_all(plan, followers=2))
    at_kill = await kill_when(d.driver, d.workers[1], 0.25, len(plan) + len(warm))
    await posting
    try:
        await d.driver.wait_all_ended(180)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{await scrape_backlog(d)}\n{await task_dump(d.workers[0])}") from None
    summary = check_outcome(d.driver)

    # The survivor owns every partition now, and with them the dead worker's cache entries.
    [only] = await scrape_shares(d.settings, 1)
    assert only == set(range(d.settings.topic_partitions))
    hits = [job for job in d.driver.jobs.values() if job.planned.kind == CACHED]
    sources = {
        d.driver.clients[i].events[job.job_id][-1][1].get("source") for job in hits for i in job.clients
    }
    assert sources == {"cache"}, sources
    after = await d.driver.run_all([Planned(mix.url(t), CACHED) for t in warm])
    await d.driver.wait_all_ended(120)
    check_outcome(d.driver)
    assert {d.driver.clients[d.driver.jobs[j].clients[0]].events[j][-1][1].get("source") for j in after} == {
        "cache"
    }
    assert [d.netflix.requests_for(t) for t in warm] == [1] * len(warm)  # never fetched again

    await rebuild_verify(d.settings)
    at_kill["mid_scrape"] = len(at_kill["mid_scrape"])
    print(
        f"\n{summary} at_kill={at_kill} moved_cached_titles={len(moved)} took={time.monotonic() - began:.0f}s"
    )


async def test_sigkill_the_only_worker_mid_load_and_start_another(deployment: Deployment) -> None:
    d, began = deployment, time.monotonic()
    d.workers += [await start_worker(d.settings, d.log_dir, "worker-a")]
    await d.driver.start()
    mix = Mix(d.netflix)
    warm = await warm_titles(d, mix)

    plan = mix.build(fresh=FRESH, cached=HITS, forbidden=FORBIDDEN, delay=DELAY, warm=warm)
    posting = asyncio.create_task(d.driver.run_all(plan, followers=2))
    at_kill = await kill_when(d.driver, d.workers[0], 0.25, len(plan) + len(warm))
    d.workers += [await start_worker(d.settings, d.log_dir, "worker-b")]
    await posting
    try:
        await d.driver.wait_all_ended(180)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{await scrape_backlog(d)}") from None
    summary = check_outcome(d.driver)

    await rebuild_verify(d.settings)
    # The jobs at scraping_netflix when the worker died ended too (their requests redelivered).
    mid = at_kill.pop("mid_scrape")
    assert mid and all(c.ended(j) for j in mid for c in d.driver.clients if j in c.events), mid
    print(f"\n{summary} at_kill={at_kill} mid_scrape_ended={len(mid)} took={time.monotonic() - began:.0f}s")


async def test_a_request_redelivered_after_its_title_was_saved_still_ends(
    services: Services, tmp_path: Path
) -> None:
    """What a worker SIGKILLed between `title.scraped` and `job.completed` leaves in the log (the
    window is a few ms, too short to hit with a signal, so the test writes that log itself): the
    job's steps up to `saving_to_database`, the title stored, the request not committed. The
    next worker runs the request again and finds the title in the database: a shorter path
    whose terminal event must still reach clients and the read model (ADR 0002)."""
    netflix = FakeNetflix(load_fixtures=False)  # serves nothing: the title must come from the database
    settings = isolated_settings(services, netflix_base_url=await netflix.start())
    topics = TopicNames(settings.topic_prefix)
    gateway = await start_gateway(settings, tmp_path)
    worker = await start_worker(settings, tmp_path)
    driver = await LoadDriver([f"http://127.0.0.1:{settings.port}"], "test-key", clients=1).start()
    store = MongoStore(settings.mongodb_uri, settings.mongodb_database)
    try:
        job_id, tid = unique("job-"), title_on(0, settings.topic_partitions)
        url, key = f"https://www.netflix.com/de/title/{tid}", title_key("de", tid)
        title = TitleData(title="Saved before the crash", year=2020, title_id=tid, country="de", url=url)
        scraped = new_event(
            TitleScraped(country="de", title_id=tid, scraped_at=utc_now(), title=title), key=key
        )
        await produce(settings.kafka_bootstrap_servers, topics.titles, wire([scraped]))

        async def title_stored() -> bool:
            return (
                await find_fresh_title(store, "de", tid, newer_than=utc_now() - timedelta(hours=1))
                is not None
            )

        await eventually(title_stored, timeout=30, what="the title in the read model")
        steps = [JobStep.CHECKING_CACHE, JobStep.CHECKING_DATABASE, JobStep.SCRAPING_NETFLIX]
        steps.append(JobStep.SAVING_TO_DATABASE)
        first_run = [
            new_event(JobCreated(job_id=job_id, url=url, country="de", title_id=tid), key=job_id, sequence=1)
        ]
        first_run += [
            new_event(
                JobProgress(
                    job_id=job_id,
                    progress=STEP_PROGRESS[step],
                    status=JobStatus.PROCESSING,
                    step=STEP_DESCRIPTION[step],
                    step_code=step,
                ),
                key=job_id,
                sequence=seq,
            )
            for seq, step in enumerate(steps, start=2)
        ]
        await produce(settings.kafka_bootstrap_servers, topics.job_events, wire(first_run))
        request = ScrapeRequested(job_id=job_id, url=url, country="de", title_id=tid, requested_at=utc_now())
        driver.jobs[job_id] = Job(job_id, Planned(url, CACHED), [0])
        await driver.clients[0].subscribe(job_id)
        await produce(
            settings.kafka_bootstrap_servers, topics.scrape_requests, wire([new_event(request, key=key)])
        )

        await driver.wait_all_ended(60)
        check_outcome(driver)
        [(name, payload)] = [e for e in driver.clients[0].events[job_id] if e[0] != "job:progress"]
        assert (name, payload["source"]) == ("job:completed", "database")
        assert netflix.total_requests == 0
        await eventually(
            lambda: _status(store, job_id, "completed"),
            timeout=30,
            what="the job completed in the read model",
        )
    finally:
        await driver.close()
        await store.close()
        worker.stop()
        gateway.stop()
        await netflix.stop()


async def _status(store: MongoStore, job_id: str, status: str) -> bool:
    doc = await get_job(store, job_id)
    return doc is not None and doc.get("status") == status
