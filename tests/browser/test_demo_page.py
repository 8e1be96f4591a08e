"""The demo page (clients/web, served by the gateway at /) in a real Chromium, against the real
stack: Kafka, the Mongo-wire server, a worker, gateways, nginx for the hand-off, and the fake
Netflix. pytest owns the stack; each scenario is a Node script (tests/browser/*.mjs) driving
Chromium with playwright-core, given its URLs in the environment, printing a JSON result.

Screenshots of the main states go to artifacts/screenshots/ (the run prints where).
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import json
import os
import random
import re
import shutil
import signal
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, replace
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from bson import ObjectId

from devstack import DevstackError, Services, nginx
from devstack.procs import ManagedProcess
from streams.settings import Settings
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

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

HERE = Path(__file__).resolve().parent
WEB = REPO / "clients" / "web"
CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
SCREENSHOTS = REPO / "artifacts" / "screenshots"
API_KEY = "test-key"
SLOW_SECONDS = 4.0  # how long the fake Netflix holds a "slow" title: the job waits at 50 %
LS = "/api/v1/live-stream"
_ids = itertools.count(random.randint(20_000_000, 50_000_000), 13)


def browser_tools() -> str:
    """node, Chromium and the built page, or a failure naming the make target (never a skip)."""
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is not installed: the browser tests need node 20+ and npm", pytrace=False)
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: run `make browser-deps`", pytrace=False)
    if not (WEB / "node_modules" / "playwright-core" / "package.json").is_file():
        pytest.fail("playwright-core is not installed in clients/web: run `make web`", pytrace=False)
    if not (WEB / "dist" / "index.html").is_file():
        pytest.fail("the demo page is not built (clients/web/dist): run `make web`", pytrace=False)
    return node


@dataclass
class NodeRun:
    code: int
    result: dict[str, Any]
    stderr: str

    def explain(self) -> str:
        logs = "\n".join(self.result.get("logs", [])[-30:])
        errors = "\n".join(self.result.get("errors", []))
        return f"exit {self.code}\nerrors:\n{errors}\npage console:\n{logs}\nstderr:\n{self.stderr[-3000:]}"


OnLine = Callable[[dict[str, Any]], Awaitable[None]]


async def run_scenario(
    script: str, env: dict[str, str], *, on_line: OnLine | None = None, timeout: float = 120
) -> NodeRun:
    """Run tests/browser/<script>; `on_line` gets every JSON line before the result (and the
    script waits on stdin where its protocol says so: pytest answers `go`)."""
    node = browser_tools()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    proc = await asyncio.create_subprocess_exec(
        node,
        str(HERE / script),
        env={**os.environ, "SCREENSHOT_DIR": str(SCREENSHOTS), **env},
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None and proc.stdin is not None
    lines: list[str] = []

    async def read_stdout() -> None:
        assert proc.stdout is not None and proc.stdin is not None
        async for raw in proc.stdout:
            line = raw.decode().strip()
            if not line:
                continue
            lines.append(line)
            message = json.loads(line) if line.startswith("{") else {}
            if on_line is not None and "event" in message:
                await on_line(message)
                proc.stdin.write(b"go\n")
                await proc.stdin.drain()

    stderr_task = asyncio.ensure_future(proc.stderr.read())
    try:
        await asyncio.wait_for(read_stdout(), timeout)
        await asyncio.wait_for(proc.wait(), 15)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise AssertionError(f"{script} hung past {timeout} s; output so far: {lines[-5:]}") from None
    stderr = (await stderr_task).decode(errors="replace")
    assert lines, f"no output from {script} (exit {proc.returncode}): {stderr[-3000:]}"
    return NodeRun(proc.returncode or 0, json.loads(lines[-1]), stderr)


@dataclass
class Stack:
    settings: Settings
    netflix: FakeNetflix
    worker: ServiceProcess
    gateway: ServiceProcess
    log_dir: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.settings.port}"

    def title(self, name: str, *, slow: bool = False) -> str:
        """A fresh title on the fake Netflix; `slow`: its page takes SLOW_SECONDS."""
        title_id = str(next(_ids))
        path = f"/tr/title/{title_id}"
        self.netflix.add_title(
            path,
            title=name,
            year=2023,
            genres=["Drama", "Thriller"],
            cast=["Ada Lovelace", "Alan Turing", "Grace Hopper"],
            plot="A synthetic title from the fake Netflix, for the demo page's browser tests.",
            country="tr",
        )
        if slow:
            self.netflix.set_behaviour(path, delay=SLOW_SECONDS)
        return f"https://www.netflix.com{path}"

    def token(self, user_id: str) -> str:
        claims = {"sub": user_id, "username": f"user{user_id[-4:]}", "exp": int(time.time()) + 900}
        return jwt.encode(claims, self.settings.jwt_secret, algorithm="HS256")


@pytest.fixture(scope="module")
async def stack(services: Services, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Stack]:
    browser_tools()
    netflix = FakeNetflix(load_fixtures=True)
    base = await netflix.start()
    settings = isolated_settings(services, netflix_base_url=base, dev_token_endpoint=True)
    log_dir = tmp_path_factory.mktemp("browser-stack")
    started: list[ServiceProcess] = []
    try:
        worker, gateway = await asyncio.gather(
            start_worker(settings, log_dir), start_gateway(settings, log_dir)
        )
        started = [worker, gateway]
        yield Stack(settings, netflix, worker, gateway, log_dir)
    finally:
        for proc in reversed(started):
            proc.stop()
        await netflix.stop()


def lookup_env(stack: Stack, scenario: str, title_url: str, page_url: str | None = None) -> dict[str, str]:
    return {
        "SCENARIO": scenario,
        "PAGE_URL": page_url or f"{stack.url}/",
        "GATEWAY_URL": stack.url,
        "TITLE_URL": title_url,
        "API_KEY": API_KEY,
    }


def assert_climbs_to_100(seen: list[int]) -> None:
    assert seen, "the page never showed a progress value"
    assert seen == sorted(set(seen)), f"the bar went back or repeated: {seen}"
    assert seen[-1] == 100, seen


# ---- title lookup ---------------------------------------------------------------------------


async def test_a_fresh_title_steps_through_to_the_result_card(stack: Stack) -> None:
    run = await run_scenario(
        "lookup.mjs", lookup_env(stack, "fresh", stack.title("The Demo Title", slow=True))
    )
    assert run.code == 0, run.explain()
    result = run.result
    assert_climbs_to_100(result["seen"])
    assert 50 in result["seen"] and result["labelMidJob"] == "Scraping Netflix", result
    assert {0, 10, 30, 50, 80, 100} >= set(result["seen"])
    assert result["steps"] == [
        ["created", "done"],
        ["checking_cache", "done"],
        ["checking_database", "done"],
        ["scraping_netflix", "done"],
        ["saving_to_database", "done"],
        ["completed", "done"],
    ]
    assert (result["title"], result["source"]) == ("The Demo Title", "netflix")


async def test_a_cache_hit_that_ends_before_the_page_subscribes_still_shows(stack: Stack) -> None:
    url = stack.title("Cached Before Subscribing")
    async with httpx.AsyncClient(base_url=stack.url, headers={"X-API-Key": API_KEY}, timeout=30) as http:
        first = await http.post("/api/getinfo", json={"url": url})  # scraped once: now in the cache
        assert first.status_code == 200 and first.json()["data"]["source"] == "netflix", first.text
    run = await run_scenario("lookup.mjs", lookup_env(stack, "late", url))
    assert run.code == 0, run.explain()
    result = run.result
    # the 202 reached the page only once the job had completed: it subscribed to an ended job
    assert result["statusBeforeThePageKnewTheJob"] == "completed", result
    assert result["sourceBeforeThePageKnewTheJob"] == "cache"
    assert (result["title"], result["source"]) == ("Cached Before Subscribing", "cache")
    assert_climbs_to_100(result["seen"])
    states = dict(result["steps"])
    assert states["checking_database"] == states["scraping_netflix"] == "skipped", states


async def test_a_403_from_netflix_shows_scrape_error(stack: Stack) -> None:
    run = await run_scenario(
        "lookup.mjs", lookup_env(stack, "error", "https://www.netflix.com/tr/title/80000403")
    )
    assert run.code == 0, run.explain()
    assert run.result["errorCode"] == "SCRAPE_ERROR", run.result
    assert run.result["errorMessage"] == "Failed to fetch Netflix page: 403"
    assert 100 not in run.result["seen"]


async def test_a_dropped_connection_mid_job_recovers_and_completes(stack: Stack) -> None:
    run = await run_scenario(
        "lookup.mjs", lookup_env(stack, "drop", stack.title("Dropped Midway", slow=True))
    )
    assert run.code == 0, run.explain()
    result = run.result
    assert result["dropped"] and result["labelMidJob"] == "Scraping Netflix"
    assert_climbs_to_100(result["seen"])
    assert (result["title"], result["source"]) == ("Dropped Midway", "netflix")
    assert result["recovered"] is True, result  # socket.io connection state recovery
    assert result["connection"] == "recovered"


# ---- two gateways behind nginx: the page's gateway is killed mid-job --------------------------


@dataclass
class Balanced:
    gateways: list[ServiceProcess]
    proxy: ManagedProcess
    prefix: Path
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def upstream_of(self, engine_id: str) -> str:
        log = (self.prefix / "access.log").read_text() if (self.prefix / "access.log").exists() else ""
        found = {
            m.group(1)
            for line in log.splitlines()
            if f"sid={engine_id} " in line and (m := re.search(r"upstream=(\S+)", line))
        }
        assert len(found) == 1, f"engine {engine_id} went to {found or 'nowhere'}:\n{log[-2000:]}"
        return found.pop()


@pytest.fixture(scope="module")
async def balanced(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Balanced]:
    try:
        nginx.find_nginx()
    except DevstackError as exc:
        pytest.fail(str(exc), pytrace=False)  # names `make lb-deps`
    log_dir = tmp_path_factory.mktemp("browser-lb")
    gateways: list[ServiceProcess] = []
    proxy: ManagedProcess | None = None
    try:
        gateways = list(
            await asyncio.gather(
                start_gateway(replace(stack.settings, port=free_port()), log_dir),
                start_gateway(replace(stack.settings, port=free_port()), log_dir),
            )
        )
        prefix = tmp_path_factory.mktemp("browser-nginx")
        port = free_port()
        site = nginx.NginxSite("127.0.0.1", port, tuple(("127.0.0.1", g.settings.port) for g in gateways))
        proxy = nginx.start_nginx(site, prefix)
        yield Balanced(gateways, proxy, prefix, port)
    finally:
        if proxy is not None:
            proxy.stop()
        for gateway in gateways:
            gateway.stop()


async def test_the_page_survives_its_gateway_being_killed_behind_nginx(
    stack: Stack, balanced: Balanced
) -> None:
    killed: list[str] = []

    async def kill_the_pages_gateway(message: dict[str, Any]) -> None:
        assert message["event"] == "mid-job", message
        upstream = await eventually(
            lambda: balanced.upstream_of(message["engineId"]), timeout=10, what="the socket's gateway"
        )
        [victim] = [g for g in balanced.gateways if upstream == f"127.0.0.1:{g.settings.port}"]
        assert victim.proc is not None
        os.killpg(victim.proc.pid, signal.SIGKILL)
        victim.proc.popen.wait(10)
        killed.append(upstream)

    env = lookup_env(stack, "handoff", stack.title("Handed Over", slow=True), page_url=f"{balanced.url}/")
    env["GATEWAY_URL"] = balanced.url
    run = await run_scenario("lookup.mjs", env, on_line=kill_the_pages_gateway)
    assert run.code == 0, run.explain()
    assert killed, "the scenario never reached the middle of the job"
    result = run.result
    assert_climbs_to_100(result["seen"])
    assert (result["title"], result["source"]) == ("Handed Over", "netflix")
    assert result["recovered"] is True, result
    survivors = {f"127.0.0.1:{g.settings.port}" for g in balanced.gateways} - set(killed)
    log = (balanced.prefix / "access.log").read_text()
    assert any(
        f"upstream={s}" in line and "/socket.io/" in line for s in survivors for line in log.splitlines()
    )


# ---- history ---------------------------------------------------------------------------------

STREAM_TITLES = [
    "Friday night jazz session",
    "Morning yoga flow",
    "Indie game dev log #14",
    "Street food tour: Kadıköy",
    "Acoustic covers",
    "Chess blitz with viewers",
    "Watercolour basics",
    "Sourdough Q&A",
    "Retro console repair",
    "Late night lo-fi",
    "Mountain trail live",
    "Book club: chapter 7",
]


async def end_a_stream(
    http: httpx.AsyncClient, stack: Stack, host: str, title: str, guests: list[str]
) -> str:
    auth = {"Authorization": f"Bearer {stack.token(host)}"}
    body = {
        "title": title,
        "liveStreamType": "duocrowd" if guests else "solo",
        "channelName": re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-"),
        "accessType": "free",
        "interest": "music",
        "guests": guests,
    }
    created = await http.post(LS, json=body, headers=auth)
    assert created.status_code in (201, 202), created.text
    stream_id = created.json()["data"]["id"]
    started = await http.post(f"{LS}/{stream_id}/start", headers=auth)
    assert started.status_code in (200, 202), started.text
    for guest in guests:  # history comes from participation: a named guest joins to count
        joined = await http.post(
            f"{LS}/join",
            json={"liveStreamId": stream_id},
            headers={"Authorization": f"Bearer {stack.token(guest)}"},
        )
        assert joined.status_code in (200, 202) and joined.json()["data"]["role"] == "guest", joined.text
    ended = await http.post(f"{LS}/{stream_id}/end", headers=auth)
    assert ended.status_code in (200, 202), ended.text
    return str(stream_id)


async def test_history_paginates_on_scroll_refreshes_and_shows_the_empty_states(stack: Stack) -> None:
    user, nobody = str(ObjectId()), str(ObjectId())
    total = len(STREAM_TITLES)  # > one page of 10
    async with httpx.AsyncClient(base_url=stack.url, timeout=30) as http:
        for i, title in enumerate(STREAM_TITLES):
            if i % 4 == 3:  # every fourth: the user is a guest of someone else's stream
                await end_a_stream(http, stack, str(ObjectId()), title, [user])
            else:
                await end_a_stream(http, stack, user, title, [])

        async def listed(expected: int) -> bool:
            page = await http.get(
                f"{LS}/my-broadcasted-streams", headers={"Authorization": f"Bearer {stack.token(user)}"}
            )
            return bool(page.json()["data"]["pagination"]["totalItems"] == expected)

        await eventually(lambda: listed(total), what=f"{total} ended streams in the history")
        new_title = "Just ended: encore"

        async def end_one_more(message: dict[str, Any]) -> None:
            assert message["event"] == "listed", message
            await end_a_stream(http, stack, user, new_title, [])
            await eventually(lambda: listed(total + 1), what="the new stream in the history")

        env = {
            "PAGE_URL": f"{stack.url}/",
            "USER_ID": user,
            "EMPTY_USER_ID": nobody,
            "TOTAL": str(total),
            "NEW_TITLE": new_title,
        }
        run = await run_scenario("history.mjs", env, on_line=end_one_more)
    assert run.code == 0, run.explain()
    result = run.result
    # page 1 on arrival, page 2 only once scrolled to, and nothing after the last page
    assert result["firstPageCount"] == 10, result
    assert result["requestsBeforeScroll"] == ["my-broadcasted-streams?page=1"], result
    assert result["countAtEnd"] == total
    assert len(set(result["idsAtEnd"])) == total
    assert result["requestsAtEnd"] == ["my-broadcasted-streams?page=1", "my-broadcasted-streams?page=2"]
    assert result["sentinelAtEnd"] == 0  # hasNextPage false: no sentinel, no page 3
    assert sorted(set(result["roles"])) == ["guest", "host"], result["roles"]
    # pull-to-refresh and the button: page=1 again, the newest stream first, back to one page
    assert result["requestsAfterPull"] == ["my-broadcasted-streams?page=1"], result
    assert result["firstTitleAfterPull"] == new_title
    assert result["countAfterPull"] == 10
    assert result["requestsAfterButton"] == ["my-broadcasted-streams?page=1"]
    assert "no ended streams watched as audience" in result["watchedEmpty"]
    assert "no ended streams as a host or a guest" in result["broadcastedEmpty"]
    assert "no ended streams watched as audience" in result["watchedEmptyForNobody"]


# ---- cross-origin with credentials -------------------------------------------------------------


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        pass


@pytest.fixture(scope="module")
def probe_pages(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """tests/browser/cors.html (+ socket.io-client's browser build) on two origins of their own:
    http://localhost:A and http://localhost:B."""
    root = tmp_path_factory.mktemp("cors-pages")
    shutil.copy(HERE / "cors.html", root / "cors.html")
    client = WEB / "node_modules" / "socket.io-client" / "dist" / "socket.io.min.js"
    if not client.is_file():
        pytest.fail("socket.io-client is not installed in clients/web: run `make web`", pytrace=False)
    shutil.copy(client, root / "socket.io.min.js")
    servers = [
        ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(root)))
        for _ in range(2)
    ]
    for server in servers:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield tuple(f"http://localhost:{s.server_address[1]}" for s in servers)  # type: ignore[misc]
    finally:
        for server in servers:
            server.shutdown()
            server.server_close()


async def test_cross_origin_with_credentials_allowed_origin_only(
    stack: Stack, probe_pages: tuple[str, str], tmp_path: Path
) -> None:
    allowed, other = probe_pages
    gateway = await start_gateway(
        replace(stack.settings, port=free_port(), cors_origins=(allowed,)), tmp_path
    )
    try:
        env = {
            "GATEWAY_URL": f"http://127.0.0.1:{gateway.settings.port}",
            "ALLOWED_PAGE": f"{allowed}/cors.html",
            "OTHER_PAGE": f"{other}/cors.html",
            "API_KEY": API_KEY,
        }
        run = await run_scenario("cross_origin.mjs", env)
    finally:
        gateway.stop()
    assert run.code == 0, run.explain()
    result = run.result
    assert (result["allowedOrigin"], result["otherOrigin"]) == (allowed, other)
    assert result["allowed"] == {
        "get": 200,
        "post": 202,
        "socket_polling": "connected",
        "socket_websocket": "connected",
    }, result
    for name in ("get", "post", "socket_polling", "socket_websocket"):
        assert str(result["other"][name]).startswith("refused"), result["other"]
