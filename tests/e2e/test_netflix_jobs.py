"""Netflix title jobs end to end: real Kafka + FerretDB, a worker and a gateway in their own
processes, a fake Netflix, and Socket.IO clients running the seed's own flow."""

from __future__ import annotations

import asyncio
import itertools
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from pathlib import Path

import httpx
import pytest

from devstack import Services
from projections.store import MongoStore
from streams.settings import Settings
from streams.topics import title_key
from tests.e2e.jobclient import JobClient
from tests.fakes.netflix_server import FakeNetflix
from tests.support import (
    ServiceProcess,
    eventually,
    free_port,
    isolated_settings,
    start_gateway,
    start_worker,
)

pytestmark = pytest.mark.e2e

CACHE_TTL = 6.0
_ids = itertools.count(random.randint(10_000_000, 60_000_000), 7)


def new_title_id() -> str:
    return str(next(_ids))


@dataclass
class Stack:
    settings: Settings
    netflix: FakeNetflix
    worker: ServiceProcess
    gateway: ServiceProcess
    store: MongoStore
    log_dir: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.settings.port}"

    async def client(self, **kw: object) -> JobClient:
        return await JobClient(self.url, "test-key", **kw).connect()  # type: ignore[arg-type]


@pytest.fixture(scope="module")
async def stack(services: Services, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Stack]:
    netflix = FakeNetflix(load_fixtures=True)
    base = await netflix.start()
    settings = isolated_settings(
        services,
        netflix_base_url=base,
        cache_ttl_seconds=CACHE_TTL,
        scrape_timeout_seconds=2.0,
        scrape_max_attempts=2,
        job_wait_timeout_seconds=20.0,
    )
    log_dir = tmp_path_factory.mktemp("netflix-stack")
    worker = await start_worker(settings, log_dir)
    gateway = await start_gateway(settings, log_dir)
    store = MongoStore(settings.mongodb_uri, settings.mongodb_database)
    yield Stack(settings, netflix, worker, gateway, store, log_dir)
    gateway.stop()
    worker.stop()
    await store.client.drop_database(settings.mongodb_database)
    await store.close()
    await netflix.stop()


@pytest.fixture
async def client(stack: Stack) -> AsyncIterator[JobClient]:
    c = await stack.client(transports=["websocket"])  # the second gateway's test uses polling
    yield c
    await c.close()


def url_for(title_id: str, country: str = "tr") -> str:
    return f"https://www.netflix.com/{country}/title/{title_id}?s=a&trkid=13747225&vlang=tr"


async def test_seed_flow_netflix_then_cache_then_database(stack: Stack, client: JobClient) -> None:
    tid = new_title_id()
    stack.netflix.add_title(
        f"/tr/title/{tid}",
        title="Hayata Röveşata Çeken Adam",
        year=2022,
        genres=["Komedi"],
        cast=["Tom Hanks"],
        rating="18+",
        country="tr",
    )

    first = await client.run_job(url_for(tid))
    await client.finished(first)
    assert client.progress(first) == [0, 10, 30, 50, 80, 100]
    name, done = client.terminal(first)
    assert name == "job:completed", done
    assert done["source"] == "netflix"
    assert done["data"]["title"] == "Hayata Röveşata Çeken Adam"
    assert done["data"]["year"] == 2022
    assert done["data"]["genres"] == ["Komedi"]  # the rating is not a genre...
    assert done["data"]["maturityRating"] == "18+"  # ...it has its own field
    steps = [p for n, p in client.events[first] if n == "job:progress"]
    assert [s["stepCode"] for s in steps] == [
        "created",
        "checking_cache",
        "checking_database",
        "scraping_netflix",
        "saving_to_database",
        "completed",
    ]
    assert steps[3]["step"] == "Scraping Netflix"
    assert [s["status"] for s in steps] == ["pending"] + ["processing"] * 4 + ["completed"]
    assert stack.netflix.requests_for(tid) == 1

    second = await client.run_job(url_for(tid))
    await client.finished(second)
    assert client.progress(second) == [0, 10, 100]
    assert client.terminal(second)[1]["source"] == "cache"
    assert stack.netflix.requests_for(tid) == 1

    titles = await stack.store.titles()
    await eventually(
        lambda: titles.find_one({"_id": title_key("tr", tid)}), what="the title in the read model"
    )
    await asyncio.sleep(CACHE_TTL + 0.5)  # let the cache entry expire
    third = await client.run_job(url_for(tid))
    await client.finished(third)
    assert client.progress(third) == [0, 10, 30, 100]
    assert client.terminal(third)[1]["source"] == "database"
    assert client.terminal(third)[1]["data"] == done["data"]
    assert stack.netflix.requests_for(tid) == 1


FAILURES = [
    ("/tr/title/80000403", "SCRAPE_ERROR", "Failed to fetch Netflix page: 403"),
    ("/tr/title/80000404", "TITLE_NOT_FOUND", None),
    ("/tr/title/81000000", "TITLE_NOT_FOUND", None),  # 200 "Oh no!" page, isAvailable:false
    ("/gb/title/80000001", "PARSE_ERROR", None),  # NotFound page
    ("/de/title/80000002", "PARSE_ERROR", None),  # cookie wall
    ("/tr/title/80000500", "SCRAPE_ERROR", "Failed to fetch Netflix page: 500"),
    ("/tr/title/80000429", "SCRAPE_ERROR", "Failed to fetch Netflix page: 429"),
]


@pytest.mark.parametrize(("path", "code", "message"), FAILURES, ids=[f[1] + f[0] for f in FAILURES])
async def test_failure_shapes_end_in_job_error_and_store_nothing(
    stack: Stack, client: JobClient, path: str, code: str, message: str | None
) -> None:
    country, tid = path.split("/")[1], path.rsplit("/", 1)[1]
    job = await client.run_job(f"https://www.netflix.com{path}")
    await client.finished(job)
    name, payload = client.terminal(job)
    assert name == "job:error"
    assert payload["error"]["code"] == code
    if message:
        assert payload["error"]["message"] == message
    assert client.progress(job)[:4] == [0, 10, 30, 50]
    assert await (await stack.store.titles()).find_one({"_id": title_key(country, tid)}) is None
    async with httpx.AsyncClient(base_url=stack.url) as http:
        state = (await http.get(f"/api/jobs/{job}", headers={"X-API-Key": "test-key"})).json()["data"]
    assert state["status"] == "failed"
    assert state["error"]["code"] == code


async def test_timeout_is_its_own_error(stack: Stack, client: JobClient) -> None:
    tid = new_title_id()
    stack.netflix.add_title(f"/tr/title/{tid}", title="Slow", year=2020)
    stack.netflix.set_behaviour(f"/tr/title/{tid}", delay=5.0)  # scrape timeout is 2 s
    job = await client.run_job(url_for(tid))
    await client.finished(job, timeout=60)
    assert client.terminal(job)[1]["error"]["code"] == "TIMEOUT"
    assert await (await stack.store.titles()).find_one({"_id": title_key("tr", tid)}) is None


async def test_twenty_simultaneous_requests_fetch_once(stack: Stack) -> None:
    tid = new_title_id()
    stack.netflix.add_title(f"/tr/title/{tid}", title="Popular", year=2021)
    clients = [await stack.client() for _ in range(4)]
    try:
        jobs = await asyncio.gather(*(clients[i % 4].run_job(url_for(tid)) for i in range(20)))
        for i, job in enumerate(jobs):
            await clients[i % 4].finished(job)
            assert clients[i % 4].terminal(job)[0] == "job:completed"
        sources = sorted(clients[i % 4].terminal(j)[1]["source"] for i, j in enumerate(jobs))
    finally:
        for c in clients:
            await c.close()
    assert len(set(jobs)) == 20
    assert stack.netflix.requests_for(tid) == 1
    assert sources.count("netflix") == 1
    assert sources.count("cache") == 19


async def test_late_subscriber_gets_the_state_at_once(stack: Stack, client: JobClient) -> None:
    tid = new_title_id()
    stack.netflix.add_title(f"/tr/title/{tid}", title="Late", year=2019)
    response = await client.post(url_for(tid))
    job = response.json()["data"]["jobId"]

    async def completed() -> bool:
        async with httpx.AsyncClient(base_url=stack.url) as http:
            r = await http.get(f"/api/jobs/{job}", headers={"X-API-Key": "test-key"})
        return r.json()["data"]["status"] == "completed"

    await eventually(completed, what="the job to complete before anyone subscribed")
    ack = await client.subscribe(job)
    assert ack == {"ok": True, "jobId": job, "status": "completed"}
    events = await client.finished(job)
    assert client.progress(job) == [0, 10, 30, 50, 80, 100]
    assert events[-1][0] == "job:completed"
    assert events[-2] == (
        "job:progress",
        {"jobId": job, "progress": 100, "status": "completed", "step": "Completed", "stepCode": "completed"},
    )
    await asyncio.sleep(0.3)
    assert len(client.events[job]) == len(events)  # nothing twice


async def test_subscribing_to_an_unknown_job_is_an_error(client: JobClient) -> None:
    ack = await client.subscribe("00000000-0000-4000-8000-000000000000")
    assert ack["ok"] is False
    assert ack["error"]["code"] == "JOB_NOT_FOUND"
    bad = await client.sio.call("job:subscribe", {"nope": 1}, timeout=5)
    assert bad["error"]["code"] == "VALIDATION_ERROR"


async def test_a_second_gateway_serves_its_own_subscribers(stack: Stack, client: JobClient) -> None:
    other_settings = replace(stack.settings, port=free_port())
    other = await start_gateway(other_settings, stack.log_dir)
    try:
        other_client = await JobClient(
            f"http://127.0.0.1:{other_settings.port}", "test-key", transports=["polling"]
        ).connect()
        try:
            tid = new_title_id()
            stack.netflix.add_title(f"/tr/title/{tid}", title="Two", year=2018)
            job = await client.run_job(url_for(tid))  # created through the first gateway
            assert (await other_client.subscribe(job))["ok"]
            await client.finished(job)
            await other_client.finished(job)
            assert client.progress(job) == other_client.progress(job) == [0, 10, 30, 50, 80, 100]
            assert client.terminal(job) == other_client.terminal(job)
        finally:
            await other_client.close()
    finally:
        other.stop()


async def test_rest_contract(stack: Stack) -> None:
    tid = new_title_id()
    stack.netflix.add_title(f"/tr/title/{tid}", title="Sync", year=2017, cast=["A", "B"])
    headers = {"X-API-Key": "test-key"}
    async with httpx.AsyncClient(base_url=stack.url, timeout=30) as http:
        r = await http.post("/api/getinfo", json={"url": url_for(tid)}, headers=headers)
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["isSuccess"] is True and body["statusCode"] == 200 and body["errors"] == []
        assert body["data"]["title"] == "Sync" and body["data"]["source"] == "netflix"
        assert body["timestamp"].endswith("Z")

        r = await http.get("/api/jobs/does-not-exist", headers=headers)
        assert r.status_code == 404 and r.json()["code"] == "JOB_NOT_FOUND"
        for bad_headers in ({}, {"X-API-Key": "wrong"}):
            r = await http.post("/api/getinfo/async", json={"url": url_for(tid)}, headers=bad_headers)
            assert r.status_code == 401 and r.json()["code"] == "UNAUTHORIZED"
            assert r.json()["isSuccess"] is False

        before = stack.netflix.total_requests
        for bad in [
            "https://netflix.com.evil.test/tr/title/1",
            "https://evil.test/netflix.com/title/1",
            "https://user@www.netflix.com/title/1",
            "https://www.netflix.com@evil.test/title/1",
            "https://www.netflix.com/tr/title/abc",
            "ftp://www.netflix.com/title/1",
            "javascript:alert(1)",
            "",
            42,
        ]:
            r = await http.post("/api/getinfo/async", json={"url": bad}, headers=headers)
            assert r.status_code == 400, (bad, r.text)
            assert r.json()["code"] == "INVALID_URL"
        for body_bytes in (b"", b"{", b"[]", b'{"nourl": 1}'):
            r = await http.post("/api/getinfo/async", content=body_bytes, headers=headers)
            assert r.status_code == 400, body_bytes
        assert stack.netflix.total_requests == before  # nothing was fetched for bad input

        preflight = await http.options(
            "/api/getinfo/async",
            headers={
                "Origin": "https://app.example",
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "X-API-Key, Content-Type",
            },
        )
        assert preflight.status_code == 204
        assert preflight.headers["Access-Control-Allow-Origin"] == "*"
        assert "X-API-Key" in preflight.headers["Access-Control-Allow-Headers"]


async def test_a_gateway_that_never_saw_the_job_serves_it_from_the_read_model(
    stack: Stack, client: JobClient
) -> None:
    tid = new_title_id()
    stack.netflix.add_title(f"/tr/title/{tid}", title="Before", year=2016)
    job = await client.run_job(url_for(tid))
    await client.finished(job)
    jobs = await stack.store.jobs()
    await eventually(lambda: jobs.find_one({"_id": job, "status": "completed"}), what="the projected job")
    later = await start_gateway(replace(stack.settings, port=free_port()), stack.log_dir)
    try:
        fresh = await JobClient(f"http://127.0.0.1:{later.settings.port}", "test-key").connect()
        try:
            ack = await fresh.subscribe(job)
            assert ack == {"ok": True, "jobId": job, "status": "completed"}
            await fresh.finished(job)
            assert fresh.progress(job) == [0, 10, 30, 50, 80, 100]
            assert fresh.terminal(job) == client.terminal(job)
            r = await fresh.http.get(f"/api/jobs/{job}", headers={"X-API-Key": "test-key"})  # type: ignore[union-attr]
            assert r.json()["data"]["status"] == "completed"
            assert r.json()["data"]["data"]["title"] == "Before"
        finally:
            await fresh.close()
    finally:
        later.stop()
