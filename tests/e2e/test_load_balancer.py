"""Two gateways behind nginx, driven by the seed's own JavaScript client (socket.io-client 4.x).

Real Kafka and Mongo-wire server, a worker, two gateway processes, nginx rendered by
devstack.nginx, a fake Netflix, and `node tests/js/seed_client.mjs` doing exactly the seed's
flow over long-polling and over WebSocket. The access log nginx writes says which gateway served
each request of an Engine.IO session: that is how the sticky routing is checked, and a
round-robin config is shown to break the long-polling handshake.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import random
import re
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx
import pytest

from devstack import DevstackError, Services, nginx, procs
from devstack.cache import cache_root
from devstack.procs import ManagedProcess
from tests.fakes.netflix_server import FakeNetflix
from tests.support import (
    REPO,
    ServiceProcess,
    eventually,
    free_port,
    isolated_settings,
    start_gateway,
    start_worker,
)

pytestmark = pytest.mark.e2e

SEED_CLIENT = REPO / "tests" / "js" / "seed_client.mjs"
ORIGIN = "https://app.example"
STEP_CODES = ["created", "checking_cache", "checking_database", "scraping_netflix", "saving_to_database"]
_ids = itertools.count(random.randint(60_000_000, 90_000_000), 11)


def node_tools() -> tuple[str, Path]:
    """node and the cached socket.io-client, or a failure naming the make target (never a skip)."""
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is not installed: the seed client needs node 20+ and npm (then `make js-deps`)")
    modules = cache_root() / "node-client"
    if not (modules / "node_modules" / "socket.io-client" / "package.json").is_file():
        pytest.fail(f"socket.io-client is not installed in {modules}: run `make js-deps`", pytrace=False)
    return node, modules


@dataclass
class LbStack:
    netflix: FakeNetflix
    gateways: list[ServiceProcess]
    nginx: ManagedProcess
    nginx_prefix: Path
    nginx_port: int
    log_dir: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.nginx_port}"

    def gateway_url(self, index: int) -> str:
        return f"http://127.0.0.1:{self.gateways[index].settings.port}"

    def access_log(self, prefix: Path | None = None) -> list[str]:
        path = (prefix or self.nginx_prefix) / "access.log"
        return path.read_text().splitlines() if path.exists() else []


@pytest.fixture(scope="module")
async def lb(services: Services, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[LbStack]:
    try:
        nginx.find_nginx()
    except DevstackError as exc:
        pytest.fail(str(exc), pytrace=False)  # names `make lb-deps`
    node_tools()
    netflix = FakeNetflix(load_fixtures=False)
    base = await netflix.start()
    settings = isolated_settings(services, netflix_base_url=base, cors_origins=(ORIGIN,))
    log_dir = tmp_path_factory.mktemp("lb-stack")
    started: list[ServiceProcess] = []
    proxy: ManagedProcess | None = None
    try:
        worker, first, second = await asyncio.gather(
            start_worker(settings, log_dir),
            start_gateway(settings, log_dir),
            start_gateway(replace(settings, port=free_port()), log_dir),
        )
        started = [worker, first, second]
        prefix = tmp_path_factory.mktemp("nginx")
        port = free_port()
        site = nginx.NginxSite(
            "127.0.0.1", port, tuple(("127.0.0.1", g.settings.port) for g in (first, second))
        )
        proxy = nginx.start_nginx(site, prefix)
        yield LbStack(netflix, [first, second], proxy, prefix, port, log_dir)
    finally:
        if proxy is not None:
            proxy.stop()
        for proc in reversed(started):
            proc.stop()
        await netflix.stop()


async def run_seed_client(
    base: str, transport: str, title_url: str, *, post_base: str | None = None, timeout: float = 45
) -> tuple[int, dict[str, Any]]:
    node, modules = node_tools()
    argv = [node, str(SEED_CLIENT), "--base", base, "--transport", transport]
    argv += ["--api-key", "test-key", "--url", title_url, "--timeout-ms", str(int(timeout * 1000))]
    if post_base:
        argv += ["--post-base", post_base]
    proc = await asyncio.create_subprocess_exec(
        *argv,
        env={**os.environ, "SEED_CLIENT_MODULES": str(modules)},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout + 15)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise AssertionError("the seed client hung past its own timeout") from None
    lines = out.decode().strip().splitlines()
    assert lines, f"no output from the seed client (exit {proc.returncode}): {err.decode()[-2000:]}"
    return proc.returncode or 0, json.loads(lines[-1])


def new_title(stack: LbStack, name: str) -> str:
    title_id = str(next(_ids))
    stack.netflix.add_title(f"/tr/title/{title_id}", title=name, year=2022, country="tr")
    return f"https://www.netflix.com/tr/title/{title_id}"


def assert_seed_flow(code: int, result: dict[str, Any], title: str) -> None:
    """Every step of the seed's flow, in order, ending in job:completed with the title."""
    assert code == 0 and result["errors"] == [], result
    assert result["clientVersion"].startswith("4."), result
    assert result["postStatus"] == 202, result
    steps = result["steps"]
    assert steps.index("post") < steps.index("subscribe") < steps.index("job:progress"), steps
    assert steps.index("connect") < steps.index("job:progress"), steps
    assert steps[-1] == "job:completed", steps
    events = result["events"]
    assert all(payload["jobId"] == result["jobId"] for _, payload in events)
    progress = [payload for name, payload in events if name == "job:progress"]
    assert [p["progress"] for p in progress] == [0, 10, 30, 50, 80, 100], events
    assert [p["stepCode"] for p in progress] == [*STEP_CODES, "completed"]
    name, done = events[-1]
    assert name == "job:completed"
    assert done["source"] == "netflix" and done["data"]["title"] == title


def _field(line: str, name: str) -> str:
    match = re.search(rf"\b{name}=(\S+)", line)
    return match.group(1) if match else "-"


@pytest.mark.parametrize("transport", ["polling", "websocket"])
async def test_the_seed_client_runs_a_job_through_nginx(lb: LbStack, transport: str) -> None:
    title = f"Through nginx ({transport})"
    code, result = await run_seed_client(lb.url, transport, new_title(lb, title))
    assert_seed_flow(code, result, title)
    assert result["connectTransport"] == result["finalTransport"] == transport
    gateway_addresses = {f"127.0.0.1:{g.settings.port}" for g in lb.gateways}

    if transport == "polling":
        sid = result["engineId"]

        def session_lines() -> list[str]:
            lines = [line for line in lb.access_log() if _field(line, "sid") == sid]
            assert len(lines) >= 3, lines  # handshake follow-ups, the subscribe, the long polls
            return lines

        lines = await eventually(session_lines, timeout=10, what="the session in nginx's access log")
        upstreams = {_field(line, "upstream") for line in lines}
        assert len(upstreams) == 1 and upstreams <= gateway_addresses, lines  # sticky
        assert all(" 200 " in line for line in lines), lines  # no 400 "Session ID unknown"
    else:

        def upgrade_line() -> str:
            found = [
                line
                for line in lb.access_log()
                if _field(line, "transport") == "websocket" and " 101 " in line
            ]
            assert found, lb.access_log()
            return found[-1]

        line = await eventually(upgrade_line, timeout=10, what="the WebSocket upgrade in the access log")
        assert _field(line, "upstream") in gateway_addresses


async def test_without_sticky_routing_long_polling_breaks(lb: LbStack, tmp_path: Path) -> None:
    """The same config minus its `hash` line (round robin): the polling handshake fails with
    'Session ID unknown' from the other gateway. The check above would catch this config."""
    template = nginx.TEMPLATE.read_text()
    sticky = "        hash $remote_addr consistent;\n"
    assert sticky in template
    prefix = tmp_path / "round-robin"
    prefix.mkdir()
    port = free_port()
    site = nginx.NginxSite("127.0.0.1", port, tuple(("127.0.0.1", g.settings.port) for g in lb.gateways))
    text = nginx.render(site, prefix.absolute(), template=template.replace(sticky, ""))
    (prefix / "tmp").mkdir()
    conf = prefix / "nginx.conf"
    conf.write_text(text)
    proxy = procs.start_process(
        "nginx-rr",
        [nginx.find_nginx(), "-c", str(conf), "-p", f"{prefix.absolute()}/", "-g", "daemon off;"],
        log_path=prefix / "nginx.log",
    )
    try:
        await eventually(lambda: procs.tcp_open("127.0.0.1", port), timeout=10, what="nginx (round robin)")
        code, result = await run_seed_client(
            f"http://127.0.0.1:{port}", "polling", new_title(lb, "Round robin"), timeout=10
        )
        assert code == 1 and result["errors"], result
        assert "job:completed" not in result["steps"]
        log = (prefix / "access.log").read_text()
        assert re.search(r'"(GET|POST) /socket\.io/\?EIO=4&transport=polling[^"]*" 400 ', log), log
    finally:
        proxy.stop()


async def test_cors_headers_pass_through_nginx_once(lb: LbStack) -> None:
    preflight = {
        "Origin": ORIGIN,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "X-API-Key, Content-Type",
    }
    async with httpx.AsyncClient(base_url=lb.url, timeout=10) as http:
        for path in ("/api/getinfo/async", "/socket.io/?EIO=4&transport=polling"):
            response = await http.options(path, headers=preflight)
            assert response.status_code == 204, (path, response.text)  # answered by the gateway
            assert response.headers.get_list("Access-Control-Allow-Origin") == [ORIGIN], path
            assert response.headers.get_list("Access-Control-Allow-Credentials") == ["true"], path
            assert "X-API-Key" in response.headers["Access-Control-Allow-Headers"]
        response = await http.get("/healthz", headers={"Origin": ORIGIN})
        assert response.status_code == 200
        assert response.headers.get_list("Access-Control-Allow-Origin") == [ORIGIN]
        other = await http.options(
            "/api/getinfo/async", headers={**preflight, "Origin": "https://evil.example"}
        )
        assert "Access-Control-Allow-Origin" not in other.headers  # nginx adds nothing of its own
    log = "\n".join(lb.access_log())
    assert '"OPTIONS /api/getinfo/async HTTP/1.1" 204 upstream=127.0.0.1:' in log


async def test_a_job_posted_on_one_gateway_reaches_a_subscriber_on_the_other(lb: LbStack) -> None:
    """No nginx: POST straight to gateway 1, the socket straight to gateway 2 (each gateway
    tails the job events itself)."""
    title = "Fan-out"
    code, result = await run_seed_client(
        lb.gateway_url(1), "websocket", new_title(lb, title), post_base=lb.gateway_url(0)
    )
    assert_seed_flow(code, result, title)
