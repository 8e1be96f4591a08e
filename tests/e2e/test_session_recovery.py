"""Socket.IO connection state recovery, driven by socket.io-client 4.x's own reconnect.

Real Kafka and Mongo-wire server, a worker, two gateway processes and nginx in front of them.
`tests/js/recovery_client.mjs` runs the seed's flow and drops its connection in the middle of
the job; it never subscribes again, so the job's remaining events reach it only if the gateway
it reconnects to recovers its session: `socket.recovered` true, its room back, the events it
missed replayed, none twice. Once on the same gateway (a network blip), once on the other
gateway after the first one was SIGKILLed.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

from devstack import DevstackError, Services, nginx
from devstack.procs import ManagedProcess
from tests.e2e.test_load_balancer import node_tools
from tests.fakes.netflix_server import FakeNetflix
from tests.support import (
    REPO,
    ServiceProcess,
    free_port,
    isolated_settings,
    nginx_upstream_port,
    start_gateway,
    start_worker,
    unique,
)

pytestmark = pytest.mark.e2e

CLIENT = REPO / "tests" / "js" / "recovery_client.mjs"
PROGRESS = [0, 10, 30, 50, 80, 100]


@dataclass
class Stack:
    netflix: FakeNetflix
    gateways: list[ServiceProcess]
    nginx_prefix: Path
    nginx_port: int

    def gateway_url(self, index: int) -> str:
        return f"http://127.0.0.1:{self.gateways[index].settings.port}"

    @property
    def lb_url(self) -> str:
        return f"http://127.0.0.1:{self.nginx_port}"


@pytest.fixture(scope="module")
async def stack(services: Services, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Stack]:
    try:
        nginx.find_nginx()
    except DevstackError as exc:
        pytest.fail(str(exc), pytrace=False)
    node_tools()
    netflix = FakeNetflix(load_fixtures=False)
    settings = isolated_settings(services, netflix_base_url=await netflix.start())
    log_dir = tmp_path_factory.mktemp("recovery")
    started: list[ServiceProcess] = []
    proxy: ManagedProcess | None = None
    try:
        started = list(
            await asyncio.gather(
                start_worker(settings, log_dir),
                start_gateway(settings, log_dir),
                start_gateway(replace(settings, port=free_port()), log_dir),
            )
        )
        prefix = tmp_path_factory.mktemp("nginx")
        port = free_port()
        upstreams = tuple(("127.0.0.1", g.settings.port) for g in started[1:])
        proxy = nginx.start_nginx(nginx.NginxSite("127.0.0.1", port, upstreams), prefix)
        yield Stack(netflix, started[1:], prefix, port)
    finally:
        if proxy is not None:
            proxy.stop()
        for proc in reversed(started):
            proc.stop()
        await netflix.stop()


def slow_title(stack: Stack, name: str, delay: float) -> str:
    """A title whose page takes `delay` s to load: the job sits at scraping_netflix (50)."""
    title_id = str(abs(hash(unique())) % 90_000_000 + 10_000_000)
    path = f"/tr/title/{title_id}"
    stack.netflix.add_title(path, title=name, year=2021, country="tr")
    stack.netflix.set_behaviour(path, delay=delay)
    return f"https://www.netflix.com{path}"


async def start_client(base: str, title_url: str, drop: str) -> asyncio.subprocess.Process:
    node, modules = node_tools()
    argv = [node, str(CLIENT), "--base", base, "--api-key", "test-key", "--url", title_url]
    argv += ["--drop-at", "50", "--drop", drop, "--timeout-ms", "45000"]
    return await asyncio.create_subprocess_exec(
        *argv,
        env={**os.environ, "SEED_CLIENT_MODULES": str(modules)},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def client_result(proc: asyncio.subprocess.Process) -> dict[str, Any]:
    assert proc.stdout is not None and proc.stderr is not None
    try:
        out = await asyncio.wait_for(proc.stdout.read(), 60)
        await asyncio.wait_for(proc.wait(), 10)
    except TimeoutError:
        proc.kill()
        raise AssertionError("the recovery client hung past its own timeout") from None
    lines = [json.loads(line) for line in out.decode().splitlines() if line.startswith("{")]
    results = [line for line in lines if "events" in line]
    assert results, f"no result (exit {proc.returncode}): {(await proc.stderr.read()).decode()[-2000:]}"
    return results[-1]


def assert_recovered(result: dict[str, Any], title: str) -> None:
    """Two connects, the second recovered; every step once, in order; each event tagged."""
    assert result["errors"] == [], result
    assert [c["recovered"] for c in result["connects"]] == [False, True], result
    events = result["events"]
    progress = [data["progress"] for name, data, _ in events if name == "job:progress"]
    assert progress == PROGRESS, events  # none missed, none twice
    assert [name for name, _, _ in events][-1] == "job:completed", events
    assert [name for name, _, _ in events].count("job:completed") == 1, events
    assert events[-1][1]["data"]["title"] == title
    job = result["jobId"]
    for _, _, rest in events:  # the recovery offset is the event's last argument
        assert len(rest) == 1 and rest[0].startswith("1|") and job in rest[0], rest


@pytest.mark.parametrize(
    ("delay", "case"),
    [(0.3, "the rest of the job happens while it is away"), (4.0, "the rest comes after it is back")],
)
async def test_a_dropped_connection_recovers_on_the_same_gateway(
    stack: Stack, delay: float, case: str
) -> None:
    title = f"Blip: {case}"
    proc = await start_client(stack.gateway_url(0), slow_title(stack, title, delay), "engine-close")
    result = await client_result(proc)
    assert_recovered(result, title)
    assert "forced close" in result["disconnects"] or "transport close" in result["disconnects"], result


async def upstream_of_this_host(stack: Stack) -> int:
    return await nginx_upstream_port(stack.lb_url, stack.nginx_prefix)


async def test_a_client_whose_gateway_died_recovers_on_the_other_one(stack: Stack) -> None:
    """Runs last in this module: it kills one of the two gateways."""
    title = "Gateway died mid-job"
    proc = await start_client(stack.lb_url, slow_title(stack, title, 1.0), "external")
    assert proc.stdout is not None
    line = await asyncio.wait_for(proc.stdout.readline(), 30)
    assert json.loads(line).get("dropHere"), line
    port = await upstream_of_this_host(stack)
    victim = next(g for g in stack.gateways if g.settings.port == port)
    assert victim.proc is not None
    os.kill(victim.proc.pid, signal.SIGKILL)
    result = await client_result(proc)
    assert_recovered(result, title)
    assert victim.proc.poll() is not None  # it was the other gateway that answered
