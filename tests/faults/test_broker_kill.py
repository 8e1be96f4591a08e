"""Kafka brokers die under the system: on a three-node KRaft cluster (topics with three replicas,
two in sync), one node SIGKILLed mid-load and restarted loses nothing and needs no restart of
the worker or the gateway; two nodes down make the gateway answer 503 with a code at once and
`/readyz` say why, and it recovers by itself when they come back.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from streams.settings import Settings
from tests.faults.conftest import FaultStack
from tests.support import ServiceProcess, eventually, isolated_settings, start_gateway

pytestmark = [pytest.mark.faults, pytest.mark.cluster]

CLIENT_WAIT = 15.0  # how long a client waits for any answer: longer is a hang
TITLE_URL = "https://www.netflix.com/tr/title/81616256"


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
    settings = cluster_settings(broker_stack)
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

        broker_stack.kafka.restart_node(2)
        broker_stack.kafka.restart_node(3)

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
