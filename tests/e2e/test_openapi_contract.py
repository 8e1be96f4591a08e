"""Every documented route, through the real gateway and worker, answers what the OpenAPI says."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest

from devstack import Services
from streams.settings import Settings
from tests.fakes.netflix_server import FakeNetflix
from tests.openapi_check import DOC, check_response
from tests.support import ServiceProcess, eventually, isolated_settings, start_gateway, start_worker

# Status codes documented, bodies valid against closed schemas; each test runs the scenarios it
# needs, so any one of them passes alone or in any order.
pytestmark = pytest.mark.e2e

CREATOR = "65f0000000000000000000a1"
VIEWER = "65f0000000000000000000b2"


def token(settings: Settings, user_id: str, **claims: Any) -> str:
    payload = {"sub": user_id, "exp": int(time.time()) + 600, "username": f"u{user_id[-2:]}", **claims}
    return jwt.encode(payload, settings.jwt_secret, algorithm="HS256")


@dataclass
class Contract:
    """One gateway + worker for the module, the operations its scenarios exercised, and each
    scenario's run: a test that needs a scenario runs it if no test has yet (any order works)."""

    settings: Settings
    http: httpx.AsyncClient
    checked: set[tuple[str, str]] = field(default_factory=set)
    runs: dict[str, asyncio.Task[None]] = field(default_factory=dict)

    async def call(self, method: str, template: str, path: str | None = None, **kw: Any) -> httpx.Response:
        response = await self.http.request(method, path or template, **kw)
        check_response(method, template, response.status_code, response.json())
        self.checked.add((method.lower(), template))
        return response

    async def once(self, scenario: Callable[[Contract], Awaitable[None]]) -> None:
        if scenario.__name__ not in self.runs:
            self.runs[scenario.__name__] = asyncio.ensure_future(scenario(self))
        await self.runs[scenario.__name__]


@pytest.fixture(scope="module")
async def contract(services: Services, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Contract]:
    netflix = FakeNetflix(load_fixtures=True)
    base = await netflix.start()
    settings = isolated_settings(services, netflix_base_url=base, job_wait_timeout_seconds=20.0)
    log_dir: Path = tmp_path_factory.mktemp("openapi")
    worker: ServiceProcess = await start_worker(settings, log_dir)
    gw = await start_gateway(settings, log_dir)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{settings.port}", timeout=30) as http:
        yield Contract(settings, http)
    gw.stop()
    worker.stop()
    await netflix.stop()


async def netflix_and_health_routes(c: Contract) -> None:
    key = {"X-API-Key": "test-key"}
    await c.call("GET", "/healthz")
    assert (await c.call("GET", "/readyz")).status_code == 200
    r = await c.http.get("/api/openapi.json")
    assert r.status_code == 200 and r.json() == DOC
    c.checked.add(("get", "/api/openapi.json"))
    metrics = await c.http.get("/metrics")
    assert metrics.status_code == 200 and metrics.headers["Content-Type"].startswith("text/plain")
    c.checked.add(("get", "/metrics"))

    url = {"url": "https://www.netflix.com/tr/title/81616256"}
    r = await c.call("POST", "/api/getinfo/async", json=url, headers=key)
    job = r.json()["data"]["jobId"]
    await c.call("POST", "/api/getinfo/async", json={"url": "https://evil.test/title/1"}, headers=key)
    await c.call("POST", "/api/getinfo/async", json=url)
    assert (await c.call("POST", "/api/getinfo", json=url, headers=key)).status_code == 200
    failed = await c.call(
        "POST", "/api/getinfo", headers=key, json={"url": "https://www.netflix.com/tr/title/80000403"}
    )
    assert failed.status_code == 502 and failed.json()["code"] == "SCRAPE_ERROR"
    missing = await c.call(
        "POST", "/api/getinfo", headers=key, json={"url": "https://www.netflix.com/tr/title/80000404"}
    )
    assert missing.status_code == 404 and missing.json()["code"] == "TITLE_NOT_FOUND"

    async def done() -> bool:
        r = await c.call("GET", "/api/jobs/{jobId}", f"/api/jobs/{job}", headers=key)
        return r.json()["data"]["status"] == "completed"

    await eventually(done, what="the job")
    await c.call("GET", "/api/jobs/{jobId}", "/api/jobs/nope", headers=key)


LS = "/api/v1/live-stream"
ONE = f"{LS}/{{id}}"
BODY = {
    "title": "Contract",
    "liveStreamType": "solo",
    "channelName": "ch",
    "accessType": "free",
    "price": 0,
    "interest": "music",
    "recording": False,
}


async def live_stream_routes(c: Contract) -> None:
    host = {"Authorization": f"Bearer {token(c.settings, CREATOR, name='Creator')}"}
    viewer = {"Authorization": f"Bearer {token(c.settings, VIEWER)}"}
    created = await c.call("POST", LS, json=BODY, headers=host)
    assert created.status_code == 201, created.text
    sid = created.json()["data"]["id"]
    await c.call("POST", LS, json={**BODY, "liveStreamType": "nope"}, headers=host)
    await c.call("POST", LS, json=BODY)

    await c.call("GET", ONE, f"{LS}/{sid}", headers=viewer)
    await c.call("GET", ONE, f"{LS}/{'0' * 24}")
    await c.call("GET", ONE, f"{LS}/not-an-id")
    assert (await c.call("POST", f"{ONE}/start", f"{LS}/{sid}/start", headers=viewer)).status_code == 403
    assert (await c.call("POST", f"{ONE}/start", f"{LS}/{sid}/start", headers=host)).status_code == 200
    assert (await c.call("POST", f"{ONE}/start", f"{LS}/{sid}/start", headers=host)).status_code == 409
    await c.call("POST", f"{ONE}/start", f"{LS}/{'0' * 24}/start", headers=host)
    await c.call("GET", f"{LS}/whats-live-now", params={"limit": 100})
    await c.call("GET", f"{LS}/whats-live-now", params={"limit": 101})
    joined = await c.call("POST", f"{LS}/join", json={"liveStreamId": sid}, headers=viewer)
    assert joined.json()["data"]["role"] == "audience"
    await c.call("POST", f"{LS}/join", json={"liveStreamId": "x"}, headers=viewer)
    assert (await c.call("POST", f"{ONE}/end", f"{LS}/{sid}/end", headers=host)).status_code == 200
    assert (await c.call("POST", f"{LS}/join", json={"liveStreamId": sid}, headers=viewer)).status_code == 409

    async def watched() -> bool:
        r = await c.call("GET", f"{LS}/my-watched-streams", headers=viewer)
        return r.json()["data"]["pagination"]["totalItems"] == 1

    await eventually(watched, what="the watched history")
    page = await c.call("GET", f"{LS}/my-broadcasted-streams", headers=host, params={"page": 1})
    assert page.json()["data"]["list"][0]["role"] == "host"
    await c.call("GET", f"{LS}/my-broadcasted-streams", headers=host, params={"page": "abc"})
    await c.call("GET", f"{LS}/my-broadcasted-streams")
    await c.call("POST", f"{ONE}/end", f"{LS}/{sid}/end", headers=viewer)
    assert (await c.call("DELETE", ONE, f"{LS}/{sid}", headers=host)).status_code == 200
    assert (await c.call("DELETE", ONE, f"{LS}/{sid}", headers=host)).status_code == 409


async def scheduled_stream_routes(c: Contract) -> None:
    """A stream created with a planned start is `scheduled` in every DTO until it starts."""
    host = {"Authorization": f"Bearer {token(c.settings, CREATOR, name='Creator')}"}
    viewer = {"Authorization": f"Bearer {token(c.settings, VIEWER)}"}
    created = await c.call(
        "POST", LS, json={**BODY, "plannedStartDate": "2030-01-01T10:00:00.000Z"}, headers=host
    )
    assert created.status_code == 201, created.text
    data = created.json()["data"]
    assert (data["status"], data["plannedStartDate"]) == ("scheduled", "2030-01-01T10:00:00.000Z")
    one = await c.call("GET", ONE, f"{LS}/{data['id']}", headers=viewer)
    assert one.json()["data"]["status"] == "scheduled"
    started = await c.call("POST", f"{ONE}/start", f"{LS}/{data['id']}/start", headers=host)
    assert started.status_code == 200 and started.json()["data"]["status"] == "live"


async def dev_routes(c: Contract) -> None:
    """Off here (the default): 404 NOT_FOUND; their 200s are checked in tests/unit/test_webapp.py."""
    assert (await c.call("GET", "/api/dev/config")).status_code == 404
    assert (await c.call("POST", "/api/dev/token", json={"userId": "u1"})).status_code == 404


async def test_netflix_and_health_routes(contract: Contract) -> None:
    await contract.once(netflix_and_health_routes)


async def test_live_stream_routes(contract: Contract) -> None:
    await contract.once(live_stream_routes)


async def test_a_scheduled_stream_matches_the_document(contract: Contract) -> None:
    await contract.once(scheduled_stream_routes)


async def test_every_documented_operation_was_exercised(contract: Contract) -> None:
    for scenario in (netflix_and_health_routes, live_stream_routes, scheduled_stream_routes, dev_routes):
        await contract.once(scenario)
    documented = {(m, p) for p, ops in DOC["paths"].items() for m in ops}
    assert documented - contract.checked == set()
