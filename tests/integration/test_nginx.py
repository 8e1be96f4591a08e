"""The rendered nginx config against two small local HTTP servers standing in for gateways.

No Kafka, no database: what nginx itself must do — forward the client's address, keep one client
on one gateway while spreading different clients, upgrade WebSockets, pass CORS headers and
preflights through untouched, and route around a gateway that is down. The real gateways and the
seed's client behind the same config are in tests/e2e/test_load_balancer.py.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import httpx
import pytest
from aiohttp import web

from devstack import DevstackError, nginx
from devstack.procs import ManagedProcess
from tests.support import free_port

pytestmark = pytest.mark.integration

CLIENT_ADDRESSES = [f"127.0.0.{n}" for n in range(2, 26)]  # all on loopback, one /24


@dataclass
class Backend:
    name: str
    port: int
    runner: web.AppRunner
    methods: list[str]


async def start_backend(name: str) -> Backend:
    methods: list[str] = []

    async def echo(request: web.Request) -> web.StreamResponse:
        methods.append(request.method)
        if request.headers.get("Upgrade", "").lower() == "websocket":
            ws = web.WebSocketResponse()
            await ws.prepare(request)
            async for message in ws:
                await ws.send_str(f"{name}:{message.data}")
            return ws
        body = {"backend": name, "peer": request.remote, "headers": dict(request.headers)}
        response = web.json_response(body, status=204 if request.method == "OPTIONS" else 200)
        response.headers["Access-Control-Allow-Origin"] = "https://app.example"
        return response

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", echo)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return Backend(name, port, runner, methods)


@dataclass
class Proxy:
    url: str
    backends: list[Backend]
    proc: ManagedProcess
    prefix: Path


@pytest.fixture
async def proxy(tmp_path: Path) -> AsyncIterator[Proxy]:
    try:
        nginx.find_nginx()
    except DevstackError as exc:
        pytest.fail(str(exc), pytrace=False)  # names `make lb-deps`
    backends = [await start_backend("a"), await start_backend("b")]
    port = free_port()
    site = nginx.NginxSite("127.0.0.1", port, tuple(("127.0.0.1", b.port) for b in backends))
    proc = nginx.start_nginx(site, tmp_path)
    try:
        yield Proxy(f"http://127.0.0.1:{port}", backends, proc, tmp_path)
    finally:
        proc.stop()
        for backend in backends:
            await backend.runner.cleanup()


async def get_from(proxy: Proxy, address: str, path: str = "/x") -> dict[str, object]:
    transport = httpx.AsyncHTTPTransport(local_address=address)
    async with httpx.AsyncClient(transport=transport, timeout=10) as http:
        response = await http.get(proxy.url + path)
    assert response.status_code == 200, response.text
    return dict(response.json())


async def test_the_client_address_and_host_reach_the_gateway(proxy: Proxy) -> None:
    async with httpx.AsyncClient(timeout=10) as http:
        seen = (await http.get(proxy.url + "/a", headers={"X-Forwarded-For": "203.0.113.9"})).json()
    headers = seen["headers"]
    assert headers["X-Forwarded-For"] == "203.0.113.9, 127.0.0.1"  # appended, not replaced
    assert headers["X-Real-IP"] == "127.0.0.1"
    assert headers["X-Forwarded-Proto"] == "http"
    assert headers["Host"] == proxy.url.removeprefix("http://")  # the client's, port included
    assert "Connection" not in headers and "Upgrade" not in headers  # plain request: keepalive


async def test_each_client_sticks_to_one_gateway_and_clients_spread(proxy: Proxy) -> None:
    chosen: dict[str, set[object]] = {}
    for address in CLIENT_ADDRESSES:
        chosen[address] = {(await get_from(proxy, address))["backend"] for _ in range(3)}
    assert all(len(backends) == 1 for backends in chosen.values()), chosen  # sticky
    # the whole address is hashed: ip_hash would send this /24 to a single gateway
    assert set().union(*chosen.values()) == {"a", "b"}, chosen


async def test_websocket_upgrade_goes_through(proxy: Proxy) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(proxy.url + "/socket.io/?EIO=4&transport=websocket") as ws:
            await ws.send_str("hello")
            reply = await ws.receive_str(timeout=5)
    assert reply in ("a:hello", "b:hello")
    assert " 101 " in (proxy.prefix / "access.log").read_text()


async def test_cors_headers_and_preflights_are_the_gateways_own(proxy: Proxy) -> None:
    async with httpx.AsyncClient(timeout=10) as http:
        response = await http.options(
            proxy.url + "/api/getinfo/async",
            headers={"Origin": "https://app.example", "Access-Control-Request-Method": "POST"},
        )
    assert response.status_code == 204
    assert response.headers.get_list("Access-Control-Allow-Origin") == ["https://app.example"]
    assert "OPTIONS" in proxy.backends[0].methods + proxy.backends[1].methods  # nginx answered nothing


async def test_a_gateway_that_is_down_is_routed_around(proxy: Proxy) -> None:
    """What happens while devstack restarts a crashed gateway: its clients go to the other one."""
    first = {address: (await get_from(proxy, address))["backend"] for address in CLIENT_ADDRESSES}
    await proxy.backends[0].runner.cleanup()  # gateway "a" is gone
    for address in [a for a, backend in first.items() if backend == "a"][:3]:
        assert (await get_from(proxy, address))["backend"] == "b"
