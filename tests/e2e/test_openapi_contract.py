"""Every documented route, driven through the real gateway + worker, answers what the OpenAPI
document says: status codes documented, bodies valid against closed schemas."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
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

pytestmark = pytest.mark.e2e

CREATOR = "65f0000000000000000000a1"
VIEWER = "65f0000000000000000000b2"


def token(settings: Settings, user_id: str, **claims: Any) -> str:
    payload = {"sub": user_id, "exp": int(time.time()) + 600, "username": f"u{user_id[-2:]}", **claims}
    return jwt.encode(payload, settings.jwt_secret, algorithm="HS256")


@pytest.fixture(scope="module")
async def gateway(
    services: Services, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[tuple[Settings, httpx.AsyncClient]]:
    netflix = FakeNetflix(load_fixtures=True)
    base = await netflix.start()
    settings = isolated_settings(services, netflix_base_url=base, job_wait_timeout_seconds=20.0)
    log_dir: Path = tmp_path_factory.mktemp("openapi")
    worker: ServiceProcess = await start_worker(settings, log_dir)
    gw = await start_gateway(settings, log_dir)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{settings.port}", timeout=30) as http:
        yield settings, http
    gw.stop()
    worker.stop()
    await netflix.stop()


checked: set[tuple[str, str]] = set()


async def call(
    http: httpx.AsyncClient, method: str, template: str, path: str | None = None, **kw: Any
) -> httpx.Response:
    response = await http.request(method, path or template, **kw)
    check_response(method, template, response.status_code, response.json())
    checked.add((method.lower(), template))
    return response


async def test_netflix_and_health_routes(gateway: tuple[Settings, httpx.AsyncClient]) -> None:
    _, http = gateway
    key = {"X-API-Key": "test-key"}
    await call(http, "GET", "/healthz")
    assert (await call(http, "GET", "/readyz")).status_code == 200
    r = await http.get("/api/openapi.json")
    assert r.status_code == 200 and r.json() == DOC
    checked.add(("get", "/api/openapi.json"))

    url = {"url": "https://www.netflix.com/tr/title/81616256"}
    r = await call(http, "POST", "/api/getinfo/async", json=url, headers=key)
    job = r.json()["data"]["jobId"]
    await call(http, "POST", "/api/getinfo/async", json={"url": "https://evil.test/title/1"}, headers=key)
    await call(http, "POST", "/api/getinfo/async", json=url)
    assert (await call(http, "POST", "/api/getinfo", json=url, headers=key)).status_code == 200
    failed = await call(
        http, "POST", "/api/getinfo", headers=key, json={"url": "https://www.netflix.com/tr/title/80000403"}
    )
    assert failed.status_code == 502 and failed.json()["code"] == "SCRAPE_ERROR"
    missing = await call(
        http, "POST", "/api/getinfo", headers=key, json={"url": "https://www.netflix.com/tr/title/80000404"}
    )
    assert missing.status_code == 404 and missing.json()["code"] == "TITLE_NOT_FOUND"

    async def done() -> bool:
        r = await call(http, "GET", "/api/jobs/{jobId}", f"/api/jobs/{job}", headers=key)
        return r.json()["data"]["status"] == "completed"

    await eventually(done, what="the job")
    await call(http, "GET", "/api/jobs/{jobId}", "/api/jobs/nope", headers=key)


async def test_live_stream_routes(gateway: tuple[Settings, httpx.AsyncClient]) -> None:
    settings, http = gateway
    host = {"Authorization": f"Bearer {token(settings, CREATOR, name='Creator')}"}
    viewer = {"Authorization": f"Bearer {token(settings, VIEWER)}"}
    ls = "/api/v1/live-stream"
    body = {
        "title": "Contract",
        "liveStreamType": "solo",
        "channelName": "ch",
        "accessType": "free",
        "price": 0,
        "interest": "music",
        "recording": False,
    }
    created = await call(http, "POST", ls, json=body, headers=host)
    assert created.status_code == 201, created.text
    sid = created.json()["data"]["id"]
    await call(http, "POST", ls, json={**body, "liveStreamType": "nope"}, headers=host)
    await call(http, "POST", ls, json=body)

    one = f"{ls}/{{id}}"
    await call(http, "GET", one, f"{ls}/{sid}", headers=viewer)
    await call(http, "GET", one, f"{ls}/{'0' * 24}")
    await call(http, "GET", one, f"{ls}/not-an-id")
    assert (await call(http, "POST", f"{one}/start", f"{ls}/{sid}/start", headers=viewer)).status_code == 403
    assert (await call(http, "POST", f"{one}/start", f"{ls}/{sid}/start", headers=host)).status_code == 200
    assert (await call(http, "POST", f"{one}/start", f"{ls}/{sid}/start", headers=host)).status_code == 409
    await call(http, "POST", f"{one}/start", f"{ls}/{'0' * 24}/start", headers=host)
    await call(http, "GET", f"{ls}/whats-live-now", params={"limit": 100})
    await call(http, "GET", f"{ls}/whats-live-now", params={"limit": 101})
    joined = await call(http, "POST", f"{ls}/join", json={"liveStreamId": sid}, headers=viewer)
    assert joined.json()["data"]["role"] == "audience"
    await call(http, "POST", f"{ls}/join", json={"liveStreamId": "x"}, headers=viewer)
    assert (await call(http, "POST", f"{one}/end", f"{ls}/{sid}/end", headers=host)).status_code == 200
    assert (
        await call(http, "POST", f"{ls}/join", json={"liveStreamId": sid}, headers=viewer)
    ).status_code == 409

    async def watched() -> bool:
        r = await call(http, "GET", f"{ls}/my-watched-streams", headers=viewer)
        return r.json()["data"]["pagination"]["totalItems"] == 1

    await eventually(watched, what="the watched history")
    page = await call(http, "GET", f"{ls}/my-broadcasted-streams", headers=host, params={"page": 1})
    assert page.json()["data"]["list"][0]["role"] == "host"
    await call(http, "GET", f"{ls}/my-broadcasted-streams", headers=host, params={"page": "abc"})
    await call(http, "GET", f"{ls}/my-broadcasted-streams")
    await call(http, "POST", f"{one}/end", f"{ls}/{sid}/end", headers=viewer)
    assert (await call(http, "DELETE", one, f"{ls}/{sid}", headers=host)).status_code == 200
    assert (await call(http, "DELETE", one, f"{ls}/{sid}", headers=host)).status_code == 409


def test_every_documented_operation_was_exercised() -> None:
    documented = {(m, p) for p, ops in DOC["paths"].items() for m in ops}
    assert documented - checked == set()
