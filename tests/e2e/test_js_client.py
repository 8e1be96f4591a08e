"""The TypeScript client package (clients/js) tested by its own Vitest suite against a real stack.

pytest owns the stack — Kafka and the Mongo-wire server, a worker, a gateway and a fake Netflix —
and runs `npm test --prefix clients/js` (tsc, then `vitest run`) with the stack's addresses in
the environment: every REST call, subscribeJob, the seed's JS example run as written, the seed's
React hook and our useJob under react-test-renderer, and the seed's RTK Query endpoints. The
vitest unit test that the seed snippets are verbatim runs in the same suite. A non-zero exit fails
with vitest's output. The package's node_modules come from `make js-client`.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import random
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from devstack import Services
from tests.fakes.netflix_server import FakeNetflix
from tests.support import REPO, ServiceProcess, isolated_settings, start_gateway, start_worker

pytestmark = pytest.mark.e2e

PACKAGE = REPO / "clients" / "js"
API_KEY = "test-key"
FRESH_TITLES = 5  # test/rest.test.ts #0-1, subscribe.test.ts #2, react.test.ts #3-4
SLOW_TITLES = 3  # subscribe.test.ts #0-1, react.test.ts #2: answered after SLOW_SECONDS
SLOW_SECONDS = 3.0
FORBIDDEN_TITLE_URL = "https://www.netflix.com/tr/title/80000403"  # fixture: 403, SCRAPE_ERROR
VITEST_TIMEOUT = 600.0
_ids = itertools.count(random.randint(20_000_000, 59_000_000) * 10 + 3, 13)


def title_url(title_id: str) -> str:
    return f"https://www.netflix.com/tr/title/{title_id}"


def npm() -> str:
    """npm, and the package's installed dependencies, or a failure naming the target (no skip)."""
    found = shutil.which("npm")
    if found is None:
        pytest.fail("npm is not installed: clients/js needs node 20.19+ and npm (then `make js-client`)")
    if not (PACKAGE / "node_modules" / "vitest" / "package.json").is_file():
        pytest.fail("clients/js has no node_modules: run `make js-client`", pytrace=False)
    return found


@dataclass
class JsStack:
    env: dict[str, str]
    log_dir: Path
    gateway: ServiceProcess
    worker: ServiceProcess


@pytest.fixture(scope="module")
async def js_stack(services: Services, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[JsStack]:
    npm()
    netflix = FakeNetflix(load_fixtures=True)  # the seed example's own title, 81616256, is a fixture
    base = await netflix.start()
    fresh, slow = [], []
    for i in range(FRESH_TITLES + SLOW_TITLES):
        tid = str(next(_ids))
        # test/rest.test.ts and react.test.ts expect this title for a fresh id
        netflix.add_title(f"/tr/title/{tid}", title=f"JS client title {tid}", year=2024, country="tr")
        if i < FRESH_TITLES:
            fresh.append(title_url(tid))
        else:
            netflix.set_behaviour(f"/tr/title/{tid}", delay=SLOW_SECONDS)
            slow.append(title_url(tid))
    settings = isolated_settings(services, netflix_base_url=base, scrape_timeout_seconds=SLOW_SECONDS + 5)
    log_dir = tmp_path_factory.mktemp("js-client-stack")
    started: list[ServiceProcess] = []
    try:
        worker, gateway = await asyncio.gather(
            start_worker(settings, log_dir), start_gateway(settings, log_dir)
        )
        started = [worker, gateway]
        env = {
            "GATEWAY_URL": f"http://127.0.0.1:{settings.port}",
            "API_KEY": API_KEY,
            "JWT_SECRET": settings.jwt_secret,
            "TITLE_URLS": ",".join(fresh),
            "SLOW_TITLE_URLS": ",".join(slow),
            "FORBIDDEN_TITLE_URL": FORBIDDEN_TITLE_URL,
        }
        yield JsStack(env, log_dir, gateway, worker)
    finally:
        for proc in reversed(started):
            proc.stop()
        await netflix.stop()


async def run_npm(*args: str, env: dict[str, str]) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        npm(),
        *args,
        "--prefix",
        str(PACKAGE),
        cwd=REPO,
        env={**os.environ, "NO_COLOR": "1", "FORCE_COLOR": "0", "CI": "1", **env},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), VITEST_TIMEOUT)
    except TimeoutError:
        proc.kill()
        out, _ = await proc.communicate()
        return -1, out.decode(errors="replace") + f"\n(killed after {VITEST_TIMEOUT:g} s)"
    return proc.returncode if proc.returncode is not None else -1, out.decode(errors="replace")


async def test_js_client_package_against_the_real_gateway(js_stack: JsStack) -> None:
    code, output = await run_npm("test", env=js_stack.env)
    (js_stack.log_dir / "vitest.log").write_text(output)  # kept with the stack's logs
    if code != 0:
        logs = "\n".join(
            f"--- {p.name} log (tail)\n{p.log()[-3000:]}" for p in (js_stack.gateway, js_stack.worker)
        )
        pytest.fail(
            f"`npm test --prefix clients/js` exited {code}:\n{output[-20000:]}\n{logs}", pytrace=False
        )
    # the suite ran, not an empty selection: every file reported
    for name in ("seeds", "rest", "subscribe", "seedExample", "react", "rtk"):
        assert f"test/{name}.test.ts" in output, output[-5000:]
