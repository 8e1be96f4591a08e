"""Kafka brokers die under the system: on a three-node KRaft cluster (topics with three replicas,
two in sync), one node SIGKILLed mid-load and restarted loses nothing and needs no restart of
the worker or the gateway; two nodes down make the gateway answer 503 with a code at once and
`/readyz` say why, and it recovers by itself when they come back.
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from streams.events import Envelope
from streams.events.netflix import JobCompleted, JobFailed
from streams.settings import Settings
from streams.topics import TopicNames
from tests.fakes.netflix_server import FakeNetflix
from tests.faults.conftest import FaultStack, read_topic, while_alive
from tests.faults.harness import TERMINAL, LoadDriver, Mix, check_outcome, rebuild_verify
from tests.support import ServiceProcess, eventually, isolated_settings, start_gateway, start_worker

pytestmark = [pytest.mark.faults, pytest.mark.cluster, pytest.mark.timeout(900)]

CLIENT_WAIT = 15.0  # how long a client waits for any answer: longer is a hang
TITLE_URL = "https://www.netflix.com/tr/title/81616256"
# The load: fresh titles served slowly, repeated titles (cache hits), 403s.
FRESH, CACHED, FORBIDDEN, DELAY = 60, 120, 20, 0.2


def cluster_settings(stack: FaultStack, **overrides: Any) -> Settings:
    return isolated_settings(stack.services, topic_replication_factor=stack.replication_factor, **overrides)


async def timed(call: Any) -> tuple[httpx.Response, float]:
    """The response (raises if none came within CLIENT_WAIT) and how long it took (for the log)."""
    started = time.monotonic()
    response = await call
    return response, time.monotonic() - started


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=CLIENT_WAIT) as client:
        yield client


async def test_two_brokers_down_gateway_answers_503_and_recovers_without_restart(
    broker_stack: FaultStack, http: httpx.AsyncClient, tmp_path: Path
) -> None:
    # no worker in this test: readiness is about Kafka here, not the worker group
    settings = cluster_settings(broker_stack, ready_require_workers=False)
    gateway: ServiceProcess = await start_gateway(settings, tmp_path)
    base = f"http://127.0.0.1:{settings.port}"
    headers = {"X-API-Key": "test-key"}
    try:
        first = await http.post(f"{base}/api/getinfo/async", json={"url": TITLE_URL}, headers=headers)
        assert first.status_code == 202, first.text
        assert (await http.get(f"{base}/readyz")).status_code == 200
        pid = gateway.proc.pid if gateway.proc else None

        broker_stack.kafka.kill_node(2)
        broker_stack.kafka.kill_node(3)

        post, took = await timed(
            http.post(f"{base}/api/getinfo/async", json={"url": TITLE_URL}, headers=headers)
        )
        print(f"POST with two brokers down: {post.status_code} in {took:.1f} s: {post.text}")
        assert post.status_code == 503, post.text
        body = post.json()
        assert body["isSuccess"] is False and body["code"] == "UNAVAILABLE", body
        assert body["errors"], body

        async def not_ready() -> httpx.Response | None:
            answer = await http.get(f"{base}/readyz")
            return answer if answer.status_code == 503 else None

        ready, took = await timed(eventually(not_ready, timeout=30, interval=0.5, what="/readyz 503"))
        print(f"/readyz with two brokers down: {ready.status_code} in {took:.1f} s: {ready.text}")
        ready_body = ready.json()
        assert ready_body["code"] == "UNAVAILABLE"
        assert ready_body["data"]["database"] == "ok", ready_body
        assert ready_body["data"]["kafka"].startswith("error:"), ready_body
        assert any("kafka is not ready" in e for e in ready_body["errors"]), ready_body

        await asyncio.to_thread(broker_stack.kafka.restart_node, 2)
        await asyncio.to_thread(broker_stack.kafka.restart_node, 3)

        async def accepted() -> httpx.Response | None:
            answer = await http.post(f"{base}/api/getinfo/async", json={"url": TITLE_URL}, headers=headers)
            assert answer.status_code in (202, 503), answer.text
            return answer if answer.status_code == 202 else None

        await eventually(accepted, timeout=60, interval=1.0, what="POST 202 after the brokers came back")

        async def ready_again() -> bool:
            return (await http.get(f"{base}/readyz")).status_code == 200

        await eventually(ready_again, timeout=60, interval=0.5, what="/readyz 200 after recovery")
        assert gateway.proc is not None and gateway.proc.pid == pid and gateway.proc.poll() is None
    finally:
        gateway.stop()
        broker_stack.restore()


@dataclass
class Deployment:
    settings: Settings
    netflix: FakeNetflix
    worker: ServiceProcess
    gateway: ServiceProcess
    driver: LoadDriver


@pytest.fixture
async def deployment(broker_stack: FaultStack, tmp_path: Path) -> AsyncIterator[Deployment]:
    """A worker, a gateway and reconnecting Socket.IO clients on the three-node cluster."""
    netflix = FakeNetflix(load_fixtures=False)
    settings = cluster_settings(broker_stack, netflix_base_url=await netflix.start())
    worker, gateway = await asyncio.gather(
        start_worker(settings, tmp_path), start_gateway(settings, tmp_path)
    )
    driver = await LoadDriver([f"http://127.0.0.1:{settings.port}"], "test-key", clients=6).start()
    try:
        yield Deployment(settings, netflix, worker, gateway, driver)
    finally:
        await driver.close()
        gateway.stop()
        worker.stop()
        await netflix.stop()
        broker_stack.restore()


async def leader_of(bootstrap: str, topic: str, partition: int = 0) -> int:
    """The node that leads `topic`'s `partition` now."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:

        async def leader() -> int | None:
            try:
                [described] = await admin.describe_topics([topic])
            except KafkaError:
                return None
            found = [p["leader"] for p in described["partitions"] if p["partition"] == partition]
            return found[0] if found and found[0] >= 0 else None

        return int(await eventually(leader, timeout=30, interval=0.5, what=f"leader of {topic}[{partition}]"))
    finally:
        await admin.close()


def ended(driver: LoadDriver) -> int:
    """Jobs whose terminal event reached every client following them."""
    return sum(
        1
        for job in driver.jobs.values()
        if job.clients and all(driver.clients[i].ended(job.job_id) for i in job.clients)
    )


def terminal_of(event: Envelope) -> tuple[str, str]:
    """What a terminal job event says, as a client sees it: (event name, source or error code)."""
    if isinstance(event.data, JobCompleted):
        return "job:completed", event.data.source
    assert isinstance(event.data, JobFailed), event
    return "job:error", event.data.error.code


def lost_events(driver: LoadDriver, log: list[Envelope]) -> list[str]:
    """Jobs whose events the clients saw but `netflix.job-events` lacks: each created job's
    `job.created`, every step a client saw, and the terminal event it saw."""
    by_job: dict[str, list[Envelope]] = defaultdict(list)
    for event in log:
        by_job[event.key].append(event)
    problems = []
    for job in driver.jobs.values():
        events = by_job.get(job.job_id, [])
        steps = {str(getattr(e.data, "step_code", "")) for e in events}
        terminals = {terminal_of(e) for e in events if e.type in ("job.completed", "job.failed")}
        if "created" not in steps:
            problems.append(f"{job.job_id}: no job.created in the log ({len(events)} events)")
        for i in job.clients:
            seen = driver.clients[i].events.get(job.job_id, [])
            for name, payload in seen:
                if name == "job:progress" and payload.get("stepCode") not in steps:
                    problems.append(f"{job.job_id}: client {i} saw {payload.get('stepCode')}, not in the log")
                if name in TERMINAL:
                    said = (name, payload["source"] if name == "job:completed" else payload["error"]["code"])
                    if said not in terminals:
                        problems.append(f"{job.job_id}: client {i} saw {said}; the log has {terminals}")
    return problems


async def test_sigkill_one_broker_mid_load_loses_nothing(
    broker_stack: FaultStack, deployment: Deployment
) -> None:
    d, began = deployment, time.monotonic()
    names = TopicNames(d.settings.topic_prefix)
    pids = {p.name: p.proc.pid for p in (d.worker, d.gateway) if p.proc}
    plan = Mix(d.netflix).build(fresh=FRESH, cached=CACHED, forbidden=FORBIDDEN, delay=DELAY)
    total = len(plan)
    load = asyncio.create_task(d.driver.run_all(plan, followers=2, concurrency=20))

    # The victim: the group coordinator of the worker and the gateway (it leads the offsets
    # topic), which also leads about a third of every topic's partitions.
    victim = await leader_of(d.settings.kafka_bootstrap_servers, "__consumer_offsets")
    services = [d.worker, d.gateway]
    quarter = eventually(
        lambda: ended(d.driver) >= total // 4, timeout=180, interval=0.1, what="a quarter ended"
    )
    await while_alive(services, quarter)
    at_kill = ended(d.driver)
    broker_stack.kafka.kill_node(victim)
    killed_at = time.monotonic()
    # Producers and consumers ride through on two nodes: jobs go on ending while it is down.
    going_on = eventually(
        lambda: ended(d.driver) >= at_kill + total // 5,
        timeout=180,
        interval=0.2,
        what="jobs ending, one node down",
    )
    await while_alive(services, going_on)
    during = ended(d.driver) - at_kill
    # Two nodes serve every partition: the gateway is ready, on the same process (once the
    # controller has fenced the dead node, the metadata no longer lists it).
    async with httpx.AsyncClient(timeout=CLIENT_WAIT) as http:

        async def ready() -> bool:
            return (await http.get(f"http://127.0.0.1:{d.settings.port}/readyz")).status_code == 200

        await eventually(ready, timeout=60, interval=0.5, what="/readyz 200 with one node down")
    # in a thread: the clients of this process go on meanwhile (the restart waits for the node)
    await asyncio.to_thread(broker_stack.kafka.restart_node, victim)
    down_for = time.monotonic() - killed_at

    await while_alive(services, load)
    await while_alive(services, d.driver.wait_all_ended(300))
    summary = check_outcome(d.driver)
    assert summary["jobs"] == total

    # The same processes, still running: nothing had to be restarted.
    for proc in (d.worker, d.gateway):
        assert proc.proc is not None and proc.proc.poll() is None, (
            f"{proc.name} exited:\n{proc.log()[-3000:]}"
        )
        assert proc.proc.pid == pids[proc.name]

    log = await read_topic(d.settings.kafka_bootstrap_servers, names.job_events)
    assert lost_events(d.driver, log) == []
    await rebuild_verify(d.settings)
    print(
        f"\nbroker kill: node {victim} SIGKILLed after {at_kill}/{total} jobs ended, down {down_for:.1f} s "
        f"({during} jobs ended meanwhile); {summary}; {len(log)} job events in the log; "
        f"{time.monotonic() - began:.0f} s"
    )
