"""CORS as the seed's production config has it, on a real gateway process: an allowlist,
methods GET and POST, credentials; the allowed origin echoed (never `*`) for REST and for
Socket.IO polling alike, exactly once; any other origin refused with 403
`CORS_ORIGIN_NOT_ALLOWED`, WebSockets included. (The browser's side of it is in
tests/browser.)"""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import httpx
import pytest

from devstack import Services
from tests.support import ServiceProcess, gateway_running, isolated_settings

pytestmark = pytest.mark.e2e

ALLOWED = ("https://yourdomain.com", "https://admin.yourdomain.com")
EVIL = "https://evil.example"
PREFLIGHT = {
    "Access-Control-Request-Method": "POST",
    "Access-Control-Request-Headers": "X-API-Key, Content-Type",
}


@pytest.fixture(scope="module")
async def gateway(
    services: Services, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[ServiceProcess]:
    settings = isolated_settings(services, cors_origins=ALLOWED)
    async with gateway_running(settings, tmp_path_factory.mktemp("cors")) as proc:
        yield proc


@pytest.fixture
async def http(gateway: ServiceProcess) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{gateway.settings.port}", timeout=10) as client:
        yield client


def assert_allowed(response: httpx.Response, origin: str) -> None:
    assert response.headers.get_list("Access-Control-Allow-Origin") == [origin], response.headers
    assert response.headers.get_list("Access-Control-Allow-Credentials") == ["true"]
    assert "Origin" in response.headers.get("Vary", "")


def assert_refused(response: httpx.Response) -> None:
    assert response.status_code == 403, response.text
    assert response.json()["code"] == "CORS_ORIGIN_NOT_ALLOWED", response.text
    assert "Access-Control-Allow-Origin" not in response.headers


@pytest.mark.parametrize("origin", ALLOWED)
@pytest.mark.parametrize(
    "path",
    ["/api/getinfo/async", "/api/v1/live-stream/my-watched-streams", "/socket.io/?EIO=4&transport=polling"],
)
async def test_an_allowed_origins_preflight_is_answered_with_get_and_post(
    http: httpx.AsyncClient, origin: str, path: str
) -> None:
    response = await http.options(path, headers={"Origin": origin, **PREFLIGHT})
    assert response.status_code == 204
    assert_allowed(response, origin)
    assert response.headers["Access-Control-Allow-Methods"] == "GET, POST"
    assert {"X-API-Key", "Authorization", "Content-Type"} <= {
        h.strip() for h in response.headers["Access-Control-Allow-Headers"].split(",")
    }


async def test_an_allowed_origin_reads_rest_and_socketio_polling_with_credentials(
    http: httpx.AsyncClient,
) -> None:
    origin = ALLOWED[1]
    post = await http.post(
        "/api/getinfo/async",
        json={"url": "https://www.netflix.com/tr/title/81616256"},
        headers={"Origin": origin, "X-API-Key": "test-key", "Cookie": "session=1"},
    )
    assert post.status_code == 202, post.text
    assert_allowed(post, origin)
    error = await http.post("/api/getinfo/async", json={}, headers={"Origin": origin})
    assert error.status_code == 401  # an error answer is readable by the page too
    assert_allowed(error, origin)
    handshake = await http.get("/socket.io/?EIO=4&transport=polling", headers={"Origin": origin})
    assert handshake.status_code == 200 and handshake.text.startswith("0{"), handshake.text
    assert_allowed(handshake, origin)  # once: engine.io adds none of its own


@pytest.mark.parametrize(
    ("method", "path", "headers"),
    [
        ("OPTIONS", "/api/getinfo/async", PREFLIGHT),
        ("POST", "/api/getinfo/async", {"X-API-Key": "test-key"}),
        ("GET", "/api/v1/live-stream/whats-live-now", {}),
        ("GET", "/socket.io/?EIO=4&transport=polling", {}),
        ("OPTIONS", "/socket.io/?EIO=4&transport=polling", PREFLIGHT),
    ],
)
async def test_any_other_origin_is_refused(
    http: httpx.AsyncClient, method: str, path: str, headers: dict[str, str]
) -> None:
    body = {"url": "https://www.netflix.com/tr/title/81616256"} if method == "POST" else None
    response = await http.request(method, path, headers={"Origin": EVIL, **headers}, json=body)
    assert_refused(response)


async def test_the_gateways_own_pages_and_originless_clients_need_no_allowlist(
    http: httpx.AsyncClient,
) -> None:
    own = str(http.base_url).rstrip("/")
    response = await http.get("/api/v1/live-stream/whats-live-now", headers={"Origin": own})
    assert response.status_code == 200, response.text
    assert (await http.get("/api/v1/live-stream/whats-live-now")).status_code == 200  # curl, services


async def test_a_websocket_from_another_origin_is_refused_and_from_an_allowed_one_opens(
    gateway: ServiceProcess,
) -> None:
    url = f"http://127.0.0.1:{gateway.settings.port}/socket.io/?EIO=4&transport=websocket"
    async with aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await session.ws_connect(url, origin=EVIL)
        assert refused.value.status == 403
        async with session.ws_connect(url, origin=ALLOWED[0]) as ws:
            opened = await ws.receive_str(timeout=5)
            assert opened.startswith("0{"), opened
