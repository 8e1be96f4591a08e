"""The Mongo-wire server goes away for ~10 s while jobs and live-stream commands flow: the worker
retries with backoff and stays up (no batch acknowledged without its write), the gateway answers
reads with 503 `UNAVAILABLE` (never a 500, never a hang) and `/readyz` names the database, and
after the restart every read model equals a rebuild from the log.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from bson import ObjectId

from projections.queries import get_job, my_broadcasted, my_watched
from projections.store import MongoStore
from streams.events.livestream import StreamCreated
from streams.settings import Settings
from streams.topics import TopicNames
from tests.fakes.netflix_server import FakeNetflix
from tests.faults.conftest import FaultStack, read_topic, while_alive
from tests.faults.harness import LoadDriver, Mix, check_outcome, rebuild_verify
from tests.support import (
    UNTHROTTLED,
    ServiceProcess,
    eventually,
    isolated_settings,
    start_gateway,
    start_worker,
)

pytestmark = [pytest.mark.faults, pytest.mark.timeout(900)]

CLIENT_WAIT = 15.0  # how long a client waits for any answer: longer is a hang
DOWN_SECONDS = 10.0  # how long the database stays away
FRESH, CACHED, FORBIDDEN, DELAY = 30, 60, 10, 0.3
LIVE = "/api/v1/live-stream"
STREAM_USERS = 4  # live-stream scenarios running at once


def new_user() -> str:
    return str(ObjectId())


@dataclass
class StreamTraffic:
    """Live-stream commands in a loop, as users send them: a host creates and starts a stream,
    two fans join it (REST), the host ends it. A 503 is retried with backoff (the command did
    not happen); anything else unexpected, or no answer within CLIENT_WAIT, is a problem."""

    base_url: str
    jwt_secret: str
    http: httpx.AsyncClient = field(init=False)
    statuses: Counter[str] = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)
    # host -> ids of the streams the gateway said it created (201, or 202 with the id)
    created: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    # stream id -> (host, fans), for streams that ended
    ended: dict[str, tuple[str, list[str]]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.http = httpx.AsyncClient(base_url=self.base_url, timeout=CLIENT_WAIT)

    def auth(self, user: str) -> dict[str, str]:
        claims = {"sub": user, "username": f"u{user[-4:]}", "name": "N", "surname": "S"}
        token = jwt.encode({**claims, "exp": int(time.time()) + 3600}, self.jwt_secret, algorithm="HS256")
        return {"Authorization": f"Bearer {token}"}

    async def command(self, method: str, path: str, user: str, body: Any = None) -> httpx.Response | None:
        for attempt in range(60):
            try:
                response = await self.http.request(method, LIVE + path, json=body, headers=self.auth(user))
            except httpx.TimeoutException:
                self.problems.append(f"{method} {path}: no answer within {CLIENT_WAIT} s")
                return None
            self.statuses[f"{method} {path.split('/')[-1] or 'create'} {response.status_code}"] += 1
            if response.status_code != 503:
                if response.status_code not in (200, 201, 202):
                    self.problems.append(f"{method} {path}: {response.status_code} {response.text}")
                    return None
                return response
            if response.json().get("code") != "UNAVAILABLE":
                self.problems.append(f"{method} {path}: 503 without UNAVAILABLE: {response.text}")
            await asyncio.sleep(min(2.0, 0.1 * 2**attempt))
        self.problems.append(f"{method} {path}: still 503 after 60 tries")
        return None

    async def scenario(self) -> None:
        host, fans = new_user(), [new_user(), new_user()]
        body = {"title": "Fault", "liveStreamType": "solo", "channelName": "c", "interest": "music"}
        response = await self.command("POST", "", host, body)
        if response is None:
            return
        stream_id = str(response.json()["data"]["id"])
        self.created[host].append(stream_id)
        steps = [("POST", f"/{stream_id}/start", host, None)]
        steps += [("POST", "/join", fan, {"liveStreamId": stream_id}) for fan in fans]
        steps += [("POST", f"/{stream_id}/end", host, None)]
        for method, path, user, payload in steps:
            if await self.command(method, path, user, payload) is None:
                return
        self.ended[stream_id] = (host, fans)

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            await self.scenario()

    async def close(self) -> None:
        await self.http.aclose()


@dataclass
class Deployment:
    settings: Settings
    netflix: FakeNetflix
    worker: ServiceProcess
    gateway: ServiceProcess
    driver: LoadDriver
    streams: StreamTraffic
    store: MongoStore
    tasks: list[asyncio.Future[Any]] = field(default_factory=list)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.settings.port}"


@pytest.fixture
async def deployment(db_stack: FaultStack, tmp_path: Path) -> AsyncIterator[Deployment]:
    netflix = FakeNetflix(load_fixtures=False)
    settings = isolated_settings(db_stack.services, netflix_base_url=await netflix.start(), **UNTHROTTLED)
    worker, gateway = await asyncio.gather(
        start_worker(settings, tmp_path), start_gateway(settings, tmp_path)
    )
    base = f"http://127.0.0.1:{settings.port}"
    driver = await LoadDriver([base], "test-key", clients=4).start()
    streams = StreamTraffic(base, settings.jwt_secret)
    store = MongoStore(settings.mongodb_uri, settings.mongodb_database)
    d = Deployment(settings, netflix, worker, gateway, driver, streams, store)
    try:
        yield d
    finally:
        for task in d.tasks:
            task.cancel()
        await asyncio.gather(*d.tasks, return_exceptions=True)
        await driver.close()
        await streams.close()
        gateway.stop()
        worker.stop()
        await netflix.stop()
        db_stack.restore()
        await store.close()


async def bounded(what: str, call: Awaitable[httpx.Response]) -> httpx.Response:
    """The answer, which must come within CLIENT_WAIT (the client's own timeout)."""
    try:
        return await call
    except httpx.TimeoutException:
        raise AssertionError(f"{what}: no answer within {CLIENT_WAIT} s (a hang)") from None


async def reads_while_down(d: Deployment, job_id: str, user: str) -> dict[str, httpx.Response]:
    """Every kind of read the gateway serves from the database, at once."""
    async with httpx.AsyncClient(base_url=d.base_url, timeout=CLIENT_WAIT) as http:
        auth = d.streams.auth(user)
        calls: dict[str, Callable[[], Awaitable[httpx.Response]]] = {
            "GET /api/jobs/{id}": lambda: http.get(f"/api/jobs/{job_id}", headers={"X-API-Key": "test-key"}),
            "GET my-broadcasted-streams": lambda: http.get(f"{LIVE}/my-broadcasted-streams", headers=auth),
            "GET my-watched-streams": lambda: http.get(f"{LIVE}/my-watched-streams", headers=auth),
            "GET whats-live-now": lambda: http.get(f"{LIVE}/whats-live-now"),
            "GET /readyz": lambda: http.get("/readyz"),
        }
        answers = await asyncio.gather(*(bounded(name, call()) for name, call in calls.items()))
        return dict(zip(calls, answers, strict=True))


async def test_database_restart_while_jobs_and_streams_flow(
    db_stack: FaultStack, deployment: Deployment
) -> None:
    d, began = deployment, time.monotonic()
    pids = {p.name: p.proc.pid for p in (d.worker, d.gateway) if p.proc}
    plan = Mix(d.netflix).build(fresh=FRESH, cached=CACHED, forbidden=FORBIDDEN, delay=DELAY)
    load = asyncio.create_task(d.driver.run_all(plan, followers=2, concurrency=10))
    stop_streams = asyncio.Event()
    # several users at once, so that commands are caught at every stage by the outage
    traffic = asyncio.ensure_future(
        asyncio.gather(*(d.streams.run(stop_streams) for _ in range(STREAM_USERS)))
    )
    d.tasks += [load, traffic]

    def ended_jobs() -> int:
        return sum(
            1
            for job in d.driver.jobs.values()
            if job.clients and d.driver.clients[job.clients[0]].ended(job.job_id)
        )

    await eventually(
        lambda: ended_jobs() >= len(plan) // 5 and len(d.streams.ended) >= 2, timeout=120, what="load"
    )
    some_job = next(iter(d.driver.jobs))
    some_host = next(iter(d.streams.created))
    at_stop = (ended_jobs(), len(d.streams.ended))

    # in threads: this process's clients go on while the server stops and starts
    await asyncio.to_thread(db_stack.db.stop)
    stopped = time.monotonic()
    answers = await reads_while_down(d, some_job, some_host)
    for name, answer in answers.items():
        assert answer.status_code == 503, f"{name} with the database down: {answer.status_code} {answer.text}"
        assert answer.json()["code"] == "UNAVAILABLE", f"{name}: {answer.text}"
    # A command whose event is appended while the database is down: accepted (202, not yet
    # projected), or refused (503) and then never in the log, never a 503 that happened anyway.
    host = new_user()
    async with httpx.AsyncClient(base_url=d.base_url, timeout=CLIENT_WAIT) as http:
        body = {"title": "During", "liveStreamType": "solo", "channelName": "c", "interest": "music"}
        created = await bounded("POST create", http.post(LIVE, json=body, headers=d.streams.auth(host)))
    assert created.status_code in (202, 503), created.text
    if created.status_code == 202:
        assert created.json()["data"]["projected"] is False, created.text
        d.streams.created[host].append(str(created.json()["data"]["id"]))
    else:
        assert created.json()["code"] == "UNAVAILABLE", created.text
    ready = answers["GET /readyz"].json()
    assert ready["data"]["kafka"] == "ok" and ready["data"]["database"].startswith("error"), ready
    assert any(e.startswith("database is not ready") for e in ready["errors"]), ready
    await asyncio.sleep(max(0.0, DOWN_SECONDS - (time.monotonic() - stopped)))  # the outage itself
    await asyncio.to_thread(db_stack.db.start_again)
    down_for = time.monotonic() - stopped

    # Reads work again, on the same gateway.
    async with httpx.AsyncClient(base_url=d.base_url, timeout=CLIENT_WAIT) as http:

        async def reads_ok() -> bool:
            again = await reads_while_down(d, some_job, some_host)
            return all(a.status_code == 200 for a in again.values())

        await eventually(reads_ok, timeout=60, interval=1.0, what="reads answering 200 after the restart")
        assert (await http.get("/readyz")).status_code == 200

    services = [d.worker, d.gateway]
    await while_alive(services, load)
    await while_alive(services, d.driver.wait_all_ended(300))
    after = len(d.streams.ended)
    streams_go_on = eventually(
        lambda: len(d.streams.ended) >= after + 2, timeout=120, what="streams after the restart"
    )
    await while_alive(services, streams_go_on)
    stop_streams.set()
    await traffic
    summary = check_outcome(d.driver)
    assert d.streams.problems == []

    # The worker rode it out: same process, it retried (with backoff) rather than crash.
    for proc in (d.worker, d.gateway):
        assert proc.proc is not None and proc.proc.poll() is None, (
            f"{proc.name} exited:\n{proc.log()[-3000:]}"
        )
        assert proc.proc.pid == pids[proc.name]
    assert "retrying batch" in d.worker.log(), "the outage never reached a projection batch"

    # Every event in the log is reflected: each job's read model has its terminal state, each
    # stream that was said to be created exists (and no other: a 503 means nothing happened).
    names = TopicNames(d.settings.topic_prefix)
    for job_id in d.driver.jobs:
        doc = await get_job(d.store, job_id)
        assert doc is not None and doc["status"] in ("completed", "failed"), (job_id, doc)
    # every stream that ended: each host's broadcasted list and each fan's watched list show it
    for stream_id, (host_id, fans) in d.streams.ended.items():
        broadcasted = await my_broadcasted(d.store, host_id, 1, 100)
        assert [item["id"] for item in broadcasted["list"]] == [stream_id], (host_id, broadcasted)
        for fan in fans:
            watched = await my_watched(d.store, fan, 1, 100)
            assert [(i["id"], i["role"]) for i in watched["list"]] == [(stream_id, "audience")], (
                fan,
                watched,
            )
    stream_events = await read_topic(d.settings.kafka_bootstrap_servers, names.livestream_events)
    created_in_log: dict[str, list[str]] = defaultdict(list)
    for event in stream_events:
        if isinstance(event.data, StreamCreated):
            created_in_log[event.data.creator.id].append(event.key)
    assert {h: sorted(ids) for h, ids in created_in_log.items()} == {
        h: sorted(ids) for h, ids in d.streams.created.items()
    }
    await rebuild_verify(d.settings)
    print(
        f"\ndatabase restart: stopped after {at_stop[0]}/{len(plan)} jobs and {at_stop[1]} streams ended, "
        f"down {down_for:.1f} s; create while down: {created.status_code}; {summary}; "
        f"streams ended {len(d.streams.ended)}; "
        f"commands {dict(sorted(d.streams.statuses.items()))}; {time.monotonic() - began:.0f} s"
    )
