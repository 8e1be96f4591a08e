"""The per-API-key limit on job creation, on a real gateway process: a burst from one key gets
429 RATE_LIMITED with Retry-After while another key is served; after Retry-After the first key
is served again."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest

from devstack import Services
from tests.openapi_check import check_response
from tests.support import ServiceProcess, gateway_running, isolated_settings

pytestmark = pytest.mark.e2e

RATE, BURST = 0.5, 3  # a token every 2 s, three at once
TITLE = {"url": "https://www.netflix.com/tr/title/81616256"}


@pytest.fixture(scope="module")
async def gateway(
    services: Services, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[ServiceProcess]:
    # No worker: the async route only appends, and the limit is taken before anything else.
    settings = isolated_settings(
        services,
        api_keys=frozenset({"key-a", "key-b", "key-c"}),
        job_rate_limit_per_second=RATE,
        job_rate_limit_burst=BURST,
    )
    async with gateway_running(settings, tmp_path_factory.mktemp("ratelimit")) as proc:
        yield proc


@pytest.fixture
async def http(gateway: ServiceProcess) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{gateway.settings.port}", timeout=30) as client:
        yield client


async def post(http: httpx.AsyncClient, key: str, path: str = "/api/getinfo/async") -> httpx.Response:
    return await http.post(path, json=TITLE, headers={"X-API-Key": key})


def retry_after(response: httpx.Response) -> int:
    assert response.status_code == 429, response.text
    body = response.json()
    check_response("post", "/api/getinfo/async", 429, body)
    assert body["code"] == "RATE_LIMITED" and body["isSuccess"] is False, body
    header = response.headers.get("Retry-After", "")
    assert header.isdigit() and int(header) >= 1, response.headers
    assert body["data"] == {"limit": "job_create", "retryAfterSeconds": int(header)}, body
    return int(header)


async def test_a_burst_from_one_key_is_limited_while_another_key_is_served(http: httpx.AsyncClient) -> None:
    burst_a = [post(http, "key-a") for _ in range(12)]
    burst_b = [post(http, "key-b") for _ in range(BURST)]
    answers = await asyncio.gather(*burst_a, *burst_b)
    a, b = answers[: len(burst_a)], answers[len(burst_a) :]
    assert [r.status_code for r in b] == [202] * BURST, [r.text for r in b]
    accepted = [r for r in a if r.status_code == 202]
    limited = [r for r in a if r.status_code != 202]
    # The burst is served whole; tokens refilled during the burst may let one or two more in
    assert len(accepted) >= BURST, [r.status_code for r in a]
    assert len(limited) >= 12 - BURST - 2, [r.status_code for r in a]
    waits = [retry_after(r) for r in limited]
    assert max(waits) <= 2  # one token at 0.5/s: at most 2 s away

    # The synchronous route shares the bucket: refused at once, not after a job wait
    retry_after(await post(http, "key-a", "/api/getinfo"))

    # After Retry-After, the key is served again
    await asyncio.sleep(retry_after(await post(http, "key-a")))
    again = await post(http, "key-a")
    assert again.status_code == 202, again.text


async def test_credentials_are_checked_before_the_limit(http: httpx.AsyncClient) -> None:
    """An unknown key is a 401 however often it comes, and it takes no bucket of a real key."""
    for _ in range(BURST + 2):
        response = await post(http, "not-a-key")
        assert response.status_code == 401, response.text
    fresh = [await post(http, "key-c") for _ in range(BURST)]
    assert [r.status_code for r in fresh] == [202] * BURST, [r.text for r in fresh]
