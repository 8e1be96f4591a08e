"""gateway/http/logcontext.py on an in-process server: each request its own requestId, and the
job or live stream its path names when the id is well-formed."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from gateway.http.logcontext import log_context
from streams import logs

pytestmark = pytest.mark.unit

STREAM = "65f0c0ffee0000000000beef"


@pytest.fixture
async def client() -> AsyncIterator[TestClient]:
    async def seen(request: web.Request) -> web.Response:
        return web.json_response(logs.current())

    app = web.Application(middlewares=[log_context])
    app.add_routes(
        [
            web.get("/api/jobs/{jobId}", seen),
            web.get("/api/v1/live-stream/{id}", seen),
            web.get("/other/{id}", seen),
            web.get("/plain", seen),
        ]
    )
    async with TestClient(TestServer(app)) as test_client:
        yield test_client


async def fields(client: TestClient, path: str) -> dict[str, str]:
    response = await client.get(path)
    assert response.status == 200
    return dict(await response.json())


async def test_the_path_ids_and_a_request_id_per_request(client: TestClient) -> None:
    job = await fields(client, "/api/jobs/0b5e8f0e-1c2d-4e5f-9a8b-7c6d5e4f3a2b")
    assert job["jobId"] == "0b5e8f0e-1c2d-4e5f-9a8b-7c6d5e4f3a2b" and len(job["requestId"]) == 16
    stream = await fields(client, f"/api/v1/live-stream/{STREAM}")
    assert stream["liveStreamId"] == STREAM and "jobId" not in stream
    assert stream["requestId"] != job["requestId"]
    assert "liveStreamId" not in await fields(client, f"/other/{STREAM}")  # not a stream route


async def test_a_malformed_id_is_not_bound(client: TestClient) -> None:
    assert set(await fields(client, "/api/jobs/" + "x" * 65)) == {"requestId"}
    assert set(await fields(client, "/api/v1/live-stream/not-an-object-id")) == {"requestId"}
    assert set(await fields(client, "/api/jobs/a%20b")) == {"requestId"}
