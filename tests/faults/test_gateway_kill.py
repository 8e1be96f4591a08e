"""SIGKILL a gateway under load behind nginx: its sockets (socket.io-client 4.x in Node, the
seed's client) reconnect through nginx to the other gateway, get their sessions back by
connection state recovery (ADR 0011), and every job's terminal event reaches every socket
that followed it exactly once. Jobs posted meanwhile (503s and dropped connections retried)
all end too."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

from devstack import DevstackError, Services, nginx
from devstack.procs import ManagedProcess
from tests.e2e.test_load_balancer import node_tools
from tests.fakes.netflix_server import FakeNetflix
from tests.faults.harness import FORBIDDEN, LoadDriver, Mix, Planned
from tests.support import (
    REPO,
    UNTHROTTLED,
    ServiceProcess,
    eventually,
    free_port,
    isolated_settings,
    nginx_upstream_port,
    start_gateway,
    start_worker,
)

pytestmark = [pytest.mark.faults, pytest.mark.timeout(600)]

CLIENTS = REPO / "tests" / "js" / "load_clients.mjs"
SOCKETS, JOBS_PER_SOCKET, UNFOLLOWED = 50, 8, 100  # 400 followed jobs and 100 posted only


@dataclass
class Stack:
    netflix: FakeNetflix
    gateways: list[ServiceProcess]
    worker: ServiceProcess
    nginx_prefix: Path
    lb_url: str


@pytest.fixture
async def stack(services: Services, tmp_path: Path) -> AsyncIterator[Stack]:
    try:
        nginx.find_nginx()
    except DevstackError as exc:
        pytest.fail(str(exc), pytrace=False)
    node_tools()
    netflix = FakeNetflix(load_fixtures=False)
    settings = isolated_settings(services, netflix_base_url=await netflix.start(), **UNTHROTTLED)
    started: list[ServiceProcess] = []
    proxy: ManagedProcess | None = None
    try:
        started = list(
            await asyncio.gather(
                start_worker(settings, tmp_path),
                start_gateway(settings, tmp_path),
                start_gateway(replace(settings, port=free_port()), tmp_path),
            )
        )
        prefix, port = tmp_path / "nginx", free_port()
        prefix.mkdir()
        upstreams = tuple(("127.0.0.1", g.settings.port) for g in started[1:])
        proxy = nginx.start_nginx(nginx.NginxSite("127.0.0.1", port, upstreams), prefix)
        yield Stack(netflix, started[1:], started[0], prefix, f"http://127.0.0.1:{port}")
    finally:
        if proxy is not None:
            proxy.stop()
        for proc in reversed(started):
            proc.stop()
        await netflix.stop()


async def upstream_of_this_host(stack: Stack) -> int:
    return await nginx_upstream_port(stack.lb_url, stack.nginx_prefix)


class NodeClients:
    """load_clients.mjs as a subprocess: its status lines as they come, its result at the end."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.subscribed = asyncio.Event()
        self.ended = 0
        self.result: list[dict[str, Any]] | None = None
        self.reader = asyncio.create_task(self._read())

    @classmethod
    async def start(cls, base: str, plan: list[list[str]], plan_file: Path) -> NodeClients:
        node, modules = node_tools()
        await asyncio.to_thread(plan_file.write_text, json.dumps(plan))
        proc = await asyncio.create_subprocess_exec(
            node,
            str(CLIENTS),
            "--base",
            base,
            "--api-key",
            "test-key",
            "--plan",
            str(plan_file),
            "--timeout-ms",
            "150000",
            env={**os.environ, "SEED_CLIENT_MODULES": str(modules)},
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            limit=64 * 1024 * 1024,  # the result is one long line
        )
        return cls(proc)

    async def _read(self) -> None:
        assert self.proc.stdout is not None
        async for raw in self.proc.stdout:
            msg = json.loads(raw)
            if "status" in msg:
                self.ended = msg["status"]["ended"]
            elif "subscribed" in msg:
                self.subscribed.set()
            elif "result" in msg:
                self.result = msg["result"]

    async def finish(self, timeout: float) -> list[dict[str, Any]]:
        try:
            await asyncio.wait_for(self.proc.wait(), timeout)
            await self.reader
        except TimeoutError:
            self.proc.kill()
            raise AssertionError("load_clients.mjs hung past its own timeout") from None
        assert self.proc.stderr is not None
        err = (await self.proc.stderr.read()).decode()[-3000:]
        assert self.result is not None, f"no result (exit {self.proc.returncode}): {err}"
        return self.result


def check_sockets(result: list[dict[str, Any]], expected_kind: dict[str, str]) -> dict[str, int]:
    """Every socket: its jobs' terminal event once, each step once, every reconnect recovered."""
    problems: list[str] = []
    counts = {"sockets": len(result), "jobs": 0, "reconnected": 0, "recovered": 0}
    for sock in result:
        where = f"socket {sock['index']}"
        if sock["errors"]:
            problems.append(f"{where}: errors {sock['errors']}")
        recovered = [c["recovered"] for c in sock["connects"]]
        if recovered[1:] != [True] * (len(recovered) - 1) or recovered[:1] != [False]:
            problems.append(f"{where}: connects {sock['connects']} disconnects {sock['disconnects']}")
        counts["reconnected"] += len(recovered) > 1
        counts["recovered"] += sum(recovered[1:])
        for job, events in sock["jobs"].items():
            counts["jobs"] += 1
            terminals = [e for e in events if e[0] != "job:progress"]
            steps = [e[1] for e in events if e[0] == "job:progress"]
            if len(terminals) != 1 or events[-1][0] == "job:progress":
                problems.append(f"{where} job {job}: terminal events {terminals} in {events}")
            if len(steps) != len(set(steps)):
                problems.append(f"{where} job {job}: a step twice: {events}")
            if not all(tagged for _, _, tagged in events):
                problems.append(f"{where} job {job}: an event without its recovery offset: {events}")
            want = "job:error" if expected_kind.get(job) == FORBIDDEN else "job:completed"
            if terminals and terminals[0][0] != want:
                problems.append(f"{where} job {job}: ended {terminals[0]}, expected {want}")
    assert not problems, f"{len(problems)} problems:\n" + "\n".join(problems[:30])
    return counts


async def test_sigkill_the_gateway_the_sockets_are_on_mid_load(stack: Stack, tmp_path: Path) -> None:
    began = time.monotonic()
    mix = Mix(stack.netflix)
    n = SOCKETS * JOBS_PER_SOCKET
    # Fresh pages take 1 s: with four fetches at once (SCRAPE_MAX_CONCURRENT_FETCHES) the load
    # lasts long enough for the kill to land in the middle of it.
    followed = mix.build(fresh=n // 4, cached=n // 2, forbidden=n - n // 4 - n // 2, delay=1.0, seed=1)
    by_url = {p.url: p.kind for p in followed}
    plan = [[p.url for p in followed[i::SOCKETS]] for i in range(SOCKETS)]
    clients = await NodeClients.start(stack.lb_url, plan, tmp_path / "plan.json")
    # Jobs posted through nginx and not followed: they cross the kill as POSTs (503s, resets).
    poster = LoadDriver([stack.lb_url], "test-key", clients=0)
    extra = mix.build(fresh=UNFOLLOWED // 4, cached=UNFOLLOWED // 2, forbidden=UNFOLLOWED // 4, delay=0.2)
    try:
        await asyncio.wait_for(clients.subscribed.wait(), 120)

        async def post_paced(plan: list[Planned]) -> None:  # one at a time, so posts span the kill
            for planned in plan:
                await poster.run(planned, followers=0)
                await asyncio.sleep(0.05)

        half = len(extra) // 2
        await post_paced(extra[:half])
        await eventually(lambda: clients.ended >= n // 10, timeout=120, what="a tenth of the jobs ended")
        port = await upstream_of_this_host(stack)
        victim = next(g for g in stack.gateways if g.settings.port == port)
        assert victim.proc is not None
        posting = asyncio.create_task(post_paced(extra[half:]))
        await asyncio.sleep(0.5)
        os.kill(victim.proc.pid, signal.SIGKILL)
        ended_at_kill, posted_at_kill = clients.ended, len(poster.jobs)
        assert ended_at_kill < n // 2, "the load was mostly over before the kill"

        result = await clients.finish(200)
        kinds = {job: by_url[url] for sock in result for job, url in sock["urls"].items()}
        assert len(kinds) == n, f"{len(kinds)} jobs followed, {n} planned"
        counts = check_sockets(result, kinds)
        await posting

        async def all_ended() -> bool:
            states = await poster.states(list(poster.jobs))
            return all(s[1] in ("completed", "failed") for s in states.values() if isinstance(s, tuple))

        await eventually(all_ended, timeout=180, interval=1, what="every posted-only job ended")
        took = time.monotonic() - began
        print(
            f"\n{counts} ended_at_kill={ended_at_kill}/{n} posted_only={len(poster.jobs)}"
            f" ({posted_at_kill} before the kill) posts_retried={poster.unavailable} took={took:.0f}s"
        )
        assert counts["reconnected"] == SOCKETS, counts  # every socket was on the killed gateway
    finally:
        await poster.close()
        if clients.proc.returncode is None:
            clients.proc.kill()
