"""Hostile input against a real gateway process: huge and malformed bodies, absurd pagination,
a thousand subscriptions on one socket, too many sockets from one address, malformed payloads
on every Socket.IO event, unknown and reserved events, undecodable packets. Each gets a clear
4xx or an error ack, never a 500, a hang or a traceback in the gateway's log."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
import httpx
import jwt
import pytest
import socketio

from devstack import Services
from tests.openapi_check import check_response
from tests.support import ServiceProcess, eventually, gateway_running, isolated_settings

pytestmark = pytest.mark.e2e

MAX_SOCKETS = 12
MAX_SUBSCRIPTIONS = 100
TEN_MB = 10 * 1024 * 1024
TITLE = "https://www.netflix.com/tr/title/81616256"
LS = "/api/v1/live-stream"


@pytest.fixture(scope="module")
async def gateway(
    services: Services, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[ServiceProcess]:
    # No worker: jobs stay pending, so subscriptions to them stay "unfinished" and count.
    settings = isolated_settings(
        services,
        max_sockets_per_ip=MAX_SOCKETS,
        max_subscriptions_per_socket=MAX_SUBSCRIPTIONS,
        job_rate_limit_per_second=0.0,  # MAX_SUBSCRIPTIONS + 1 jobs posted at once by one key
    )
    async with gateway_running(settings, tmp_path_factory.mktemp("hostile")) as proc:
        yield proc


@pytest.fixture(scope="module", autouse=True)
def no_traceback_in_the_log(gateway: ServiceProcess) -> Iterator[None]:
    """After all of it, the gateway answers and its log has no traceback."""
    yield
    assert "Traceback" not in gateway.log(), gateway.log()[-6000:]


def base(gateway: ServiceProcess) -> str:
    return f"http://127.0.0.1:{gateway.settings.port}"


@pytest.fixture
async def http(gateway: ServiceProcess) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=base(gateway), timeout=30) as client:
        yield client


def bearer(gateway: ServiceProcess) -> dict[str, str]:
    claims = {"sub": "65f0000000000000000000a1", "exp": int(time.time()) + 600}
    return {"Authorization": "Bearer " + jwt.encode(claims, gateway.settings.jwt_secret, algorithm="HS256")}


def assert_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text[:500]
    body = response.json()
    assert body["isSuccess"] is False and body["statusCode"] == status and body["code"] == code, body
    assert body["errors"], body
    return body


async def assert_healthy(http: httpx.AsyncClient) -> None:
    response = await http.get("/healthz")
    assert response.status_code == 200, response.text


# -- bodies ------------------------------------------------------------------------------------
KEY = {"X-API-Key": "test-key", "Content-Type": "application/json"}


async def test_a_10_mb_body_is_413_with_a_code_by_its_length(
    http: httpx.AsyncClient, gateway: ServiceProcess
) -> None:
    for path, headers in (("/api/getinfo/async", KEY), (LS, {**bearer(gateway), **KEY})):
        response = await http.post(path, content=b"x" * TEN_MB, headers=headers)
        body = assert_error(response, 413, "PAYLOAD_TOO_LARGE")
        assert body["data"] == {"maxBytes": gateway.settings.max_body_bytes}
        check_response("post", path, 413, body)
    await assert_healthy(http)


async def test_a_10_mb_chunked_body_is_413_after_the_limit_not_read_whole(
    http: httpx.AsyncClient,
) -> None:
    sent = 0

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: the gateway must count
        nonlocal sent
        chunk = b"[" * 65536
        for _ in range(TEN_MB // len(chunk)):
            sent += len(chunk)
            yield chunk

    try:
        response = await http.post("/api/getinfo/async", content=chunks(), headers=KEY)
    except httpx.HTTPError as exc:  # the gateway may answer and close while we still send
        pytest.fail(f"no answer to a chunked 10 MB body: {exc!r} after {sent} bytes")
    assert_error(response, 413, "PAYLOAD_TOO_LARGE")
    await assert_healthy(http)


@pytest.mark.parametrize(
    ("body", "why"),
    [
        (b"[" * 60_000, "nested"),
        (b'{"url": ' + b"[" * 30_000 + b"]" * 30_000 + b"}", "nested"),
        (b'{"url": "\xff\xfe\xfd"}', "not valid JSON"),
        (b"\xc3\x28", "not valid JSON"),
        (b"[]", "must be a JSON object"),
        (b'"https://www.netflix.com/tr/title/81616256"', "must be a JSON object"),
        (b"null", "must be a JSON object"),
        (b"1e999999", "must be a JSON object"),
        (b"", "empty"),
        (b"{", "not valid JSON"),
    ],
)
async def test_malformed_json_bodies_are_400_invalid_json(
    http: httpx.AsyncClient, body: bytes, why: str
) -> None:
    response = await http.post("/api/getinfo/async", content=body, headers=KEY)
    payload = assert_error(response, 400, "INVALID_JSON")
    assert why in payload["errors"][0], payload
    check_response("post", "/api/getinfo/async", 400, payload)


async def test_a_deeply_nested_body_over_the_limit_is_413(http: httpx.AsyncClient) -> None:
    response = await http.post("/api/getinfo/async", content=b"[" * 100_000, headers=KEY)
    assert_error(response, 413, "PAYLOAD_TOO_LARGE")


# -- pagination --------------------------------------------------------------------------------
PAGED = [f"{LS}/my-broadcasted-streams", f"{LS}/my-watched-streams", f"{LS}/whats-live-now"]


@pytest.mark.parametrize("path", PAGED)
async def test_a_page_far_past_the_end_is_an_empty_page_at_once(
    http: httpx.AsyncClient, gateway: ServiceProcess, path: str
) -> None:
    started = time.monotonic()
    response = await http.get(path, params={"page": str(10**12), "limit": "100"}, headers=bearer(gateway))
    elapsed = time.monotonic() - started
    assert response.status_code == 200, response.text
    body = response.json()
    check_response("get", path, 200, body)
    assert body["data"]["list"] == []
    assert body["data"]["pagination"]["currentPage"] == 10**12
    assert body["data"]["pagination"]["hasNextPage"] is False
    # The issue asks for "cheap": answered from the count, no skip (a generous bound)
    assert elapsed < 5.0, elapsed


@pytest.mark.parametrize("path", PAGED)
@pytest.mark.parametrize(
    ("params", "name"),
    [
        ({"limit": "-1"}, "limit"),
        ({"limit": "1e9"}, "limit"),
        ({"limit": "1000000000"}, "limit"),
        ({"limit": "0"}, "limit"),
        ({"limit": "101"}, "limit"),
        ({"page": "abc"}, "page"),
        ({"page": "0"}, "page"),
        ({"page": "-5"}, "page"),
        ({"page": "1.5"}, "page"),
        ({"page": str(10**30)}, "page"),
        ({"page": str(2**63 // 10 + 2), "limit": "10"}, "page"),  # its skip overflows int64
        ({"page": "9" * 5000}, "page"),
    ],
)
async def test_bad_page_and_limit_are_400_naming_the_parameter(
    http: httpx.AsyncClient, gateway: ServiceProcess, path: str, params: dict[str, str], name: str
) -> None:
    response = await http.get(path, params=params, headers=bearer(gateway))
    body = assert_error(response, 400, "VALIDATION_ERROR")
    assert body["data"]["parameter"] == name, body
    assert body["errors"][0].startswith(name), body
    check_response("get", path, 400, body)


async def test_the_last_page_whose_skip_fits_int64_is_answered(
    http: httpx.AsyncClient, gateway: ServiceProcess
) -> None:
    page = (2**63 - 1) // 10 + 1
    response = await http.get(PAGED[0], params={"page": str(page), "limit": "10"}, headers=bearer(gateway))
    assert response.status_code == 200, response.text
    assert response.json()["data"]["list"] == []


# -- Socket.IO: subscriptions and sockets ------------------------------------------------------
async def connect(
    gateway: ServiceProcess, namespaces: list[str] | None = None, headers: dict[str, str] | None = None
) -> socketio.AsyncClient:
    sio = socketio.AsyncClient(reconnection=False)
    await sio.connect(
        base(gateway),
        namespaces=namespaces or ["/"],
        transports=["websocket"],
        headers=headers or {},
        wait_timeout=10,
    )
    return sio


def record(sio: socketio.AsyncClient, event: str, namespace: str = "/") -> list[Any]:
    seen: list[Any] = []

    async def handler(*args: Any) -> None:
        seen.append(args[0] if args else None)

    sio.on(event, handler, namespace=namespace)
    return seen


async def test_a_thousand_subscriptions_on_one_socket(
    http: httpx.AsyncClient, gateway: ServiceProcess
) -> None:
    async def post() -> str:
        response = await http.post("/api/getinfo/async", json={"url": TITLE}, headers=KEY)
        assert response.status_code == 202, response.text
        return str(response.json()["data"]["jobId"])

    jobs = list(await asyncio.gather(*(post() for _ in range(MAX_SUBSCRIPTIONS + 1))))
    sio = await connect(gateway)
    errors = record(sio, "job:error")
    try:
        acks = [await sio.call("job:subscribe", job, timeout=10) for job in jobs[:MAX_SUBSCRIPTIONS]]
        assert all(ack["ok"] for ack in acks), [a for a in acks if not a["ok"]][:3]
        # The rest of a thousand: refused at once (no job look-up), each with the code
        others = [jobs[MAX_SUBSCRIPTIONS]] + [str(uuid.uuid4()) for _ in range(999 - MAX_SUBSCRIPTIONS)]
        refused = [await sio.call("job:subscribe", job, timeout=10) for job in others]
        assert {ack["ok"] for ack in refused} == {False}
        assert {ack["error"]["code"] for ack in refused} == {"TOO_MANY_SUBSCRIPTIONS"}
        await eventually(lambda: len(errors) == len(refused), timeout=10, what="a job:error per refusal")
        assert {e["error"]["code"] for e in errors} == {"TOO_MANY_SUBSCRIPTIONS"}
        # A job already followed is no new subscription; the socket is still usable
        again = await sio.call("job:subscribe", jobs[0], timeout=10)
        assert again["ok"] is True, again
        left = await sio.call("job:unsubscribe", jobs[0], timeout=10)
        assert left == {"ok": True, "jobId": jobs[0]}
        now = await sio.call("job:subscribe", jobs[MAX_SUBSCRIPTIONS], timeout=10)
        assert now["ok"] is True and now["jobId"] == jobs[MAX_SUBSCRIPTIONS], now
    finally:
        await sio.disconnect()
    # Another socket has its own allowance
    other = await connect(gateway)
    try:
        assert (await other.call("job:subscribe", jobs[0], timeout=10))["ok"] is True
    finally:
        await other.disconnect()
    await assert_healthy(http)


async def test_sockets_per_client_address_are_capped_and_forwarded_for_is_believed_from_loopback(
    gateway: ServiceProcess,
) -> None:
    # The test connects from 127.0.0.1, a trusted proxy by default: X-Forwarded-For names the
    # client, so each test address has its own count (nginx sends it the same way).
    crowd = {"X-Forwarded-For": "198.51.100.7"}
    sockets: list[socketio.AsyncClient] = []
    try:
        for _ in range(MAX_SOCKETS):
            sockets.append(await connect(gateway, headers=crowd))
        refused = socketio.AsyncClient(reconnection=False)
        errors = record(refused, "connect_error")
        with pytest.raises(socketio.exceptions.ConnectionError):
            await refused.connect(base(gateway), transports=["websocket"], headers=crowd, wait_timeout=10)
        assert errors and errors[0]["data"]["code"] == "TOO_MANY_CONNECTIONS", errors
        assert "MAX_SOCKETS_PER_IP" in errors[0]["data"]["message"], errors
        # The live-stream namespaces count too
        ls = socketio.AsyncClient(reconnection=False)
        ls_errors = record(ls, "connect_error", "/live-stream")
        with pytest.raises(socketio.exceptions.ConnectionError):
            await ls.connect(
                base(gateway),
                namespaces=["/live-stream"],
                transports=["websocket"],
                headers=crowd,
                wait_timeout=10,
            )
        assert ls_errors and ls_errors[0]["data"]["code"] == "TOO_MANY_CONNECTIONS", ls_errors
        # Another address, and a direct connection, are not affected
        sockets.append(await connect(gateway, headers={"X-Forwarded-For": "198.51.100.8"}))
        sockets.append(await connect(gateway, ["/live-stream"]))
        # One goes away: the address may connect again
        await sockets.pop(0).disconnect()

        async def reconnect() -> bool:
            try:
                sockets.append(await connect(gateway, headers=crowd))
            except socketio.exceptions.ConnectionError:
                return False
            return True

        await eventually(reconnect, timeout=10, what="a free place after a disconnect")
    finally:
        await asyncio.gather(*(s.disconnect() for s in sockets), return_exceptions=True)


# -- Socket.IO: malformed payloads, unknown events ---------------------------------------------
MALFORMED: list[Any] = [
    None,
    42,
    True,
    3.5,
    [],
    ["65f0000000000000000000a1"],
    {},
    {"jobId": None, "liveStreamId": None},
    {"jobId": {"$ne": None}, "liveStreamId": {"$ne": None}},
    {"jobId": 12, "liveStreamId": 12},
    "",
    "   ",
    "x" * 200_000,
    {"jobId": "x" * 200_000, "liveStreamId": "x" * 200_000},
    json.loads("[" * 400 + "]" * 400),
    {"a": {"b": {"c": {"d": {"e": [1, 2, {"f": None}]}}}}},
]
EVENTS = {
    "/": ["job:subscribe", "job:unsubscribe"],
    "/live-stream": ["joinStream", "leaveStream"],
    "/stream-chat": ["joinStream", "leaveStream"],
}
ERROR_CODES = {"VALIDATION_ERROR", "JOB_NOT_FOUND", "STREAM_NOT_FOUND"}


@pytest.mark.parametrize("namespace", list(EVENTS))
async def test_malformed_payloads_on_every_event_get_an_error_ack(
    http: httpx.AsyncClient, gateway: ServiceProcess, namespace: str
) -> None:
    sio = await connect(gateway, [namespace])
    try:
        for event in EVENTS[namespace]:
            for payload in MALFORMED:
                ack = await sio.call(event, payload, namespace=namespace, timeout=10)
                assert ack["ok"] is False, (event, str(payload)[:80], ack)
                assert ack["error"]["code"] in ERROR_CODES, (event, str(payload)[:80], ack)
                assert ack["error"]["message"], ack
            # Too many arguments (a tuple is sent as several)
            ack = await sio.call(event, ("a", "b", {"c": 1}), namespace=namespace, timeout=10)
            assert ack["ok"] is False and ack["error"]["code"] == "VALIDATION_ERROR", ack
            # No argument at all
            ack = await sio.call(event, namespace=namespace, timeout=10)
            assert ack["ok"] is False and ack["error"]["code"] in ERROR_CODES, ack
        # Unknown events, and reserved ones sent as events: an error ack, the socket stays
        for event in ("nope", "job:progress", "JOB:SUBSCRIBE", "connect", "disconnect", "x" * 5000, "*"):
            ack = await sio.call(event, {"jobId": "x"}, namespace=namespace, timeout=10)
            assert ack["ok"] is False and ack["error"]["code"] == "UNKNOWN_EVENT", (event[:20], ack)
        assert sio.connected and namespace in sio.namespaces
        ack = await sio.call(EVENTS[namespace][0], None, namespace=namespace, timeout=10)
        assert ack["error"]["code"] == "VALIDATION_ERROR"  # still answered after all that
    finally:
        await sio.disconnect()
    await assert_healthy(http)


async def test_without_an_ack_the_default_namespace_answers_on_job_error(gateway: ServiceProcess) -> None:
    sio = await connect(gateway)
    errors = record(sio, "job:error")
    try:
        await sio.emit("nope", {"x": 1})
        await sio.emit("job:unsubscribe", {"jobId": ["x"]})
        await sio.emit("job:subscribe", 42)
        await sio.emit("disconnect")
        await eventually(lambda: len(errors) >= 4, timeout=10, what="job:error for each")
        assert [e["error"]["code"] for e in errors] == [
            "UNKNOWN_EVENT",
            "VALIDATION_ERROR",
            "VALIDATION_ERROR",
            "UNKNOWN_EVENT",
        ], errors
        assert all(e["jobId"] is None for e in errors), errors
        assert sio.connected
    finally:
        await sio.disconnect()


class RawSocket:
    """Socket.IO by hand over an Engine.IO v4 WebSocket, to send what no client library would."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws

    @classmethod
    async def open(cls, session: aiohttp.ClientSession, gateway: ServiceProcess) -> RawSocket:
        url = f"ws://127.0.0.1:{gateway.settings.port}/socket.io/?EIO=4&transport=websocket"
        raw = cls(await session.ws_connect(url))
        assert (await raw.receive()).startswith("0{")  # engine.io open
        await raw.ws.send_str("40")
        assert (await raw.receive()).startswith("40{")  # socket.io connect
        return raw

    async def receive(self, timeout: float = 10) -> str:
        while True:
            msg = await self.ws.receive(timeout=timeout)
            if msg.type != aiohttp.WSMsgType.TEXT:
                return f"<{msg.type.name}>"
            if msg.data == "2":  # engine.io ping
                await self.ws.send_str("3")
                continue
            return str(msg.data)


async def test_raw_packets_no_client_would_send(http: httpx.AsyncClient, gateway: ServiceProcess) -> None:
    async with aiohttp.ClientSession() as session:
        raw = await RawSocket.open(session, gateway)
        # Event names that are not strings, an empty event, an ack id with them
        for packet, reply_start in (
            ('421[123,"x"]', "431["),
            ('422[{"a":1}]', "432["),
            ("423[]", "433["),
            ("424", "434["),
            ('425[null,"x"]', "435["),
        ):
            await raw.ws.send_str(packet)
            reply = await raw.receive()
            assert reply.startswith(reply_start), (packet, reply)
            assert json.loads(reply[len(reply_start) - 1 :])[0]["error"]["code"] == "UNKNOWN_EVENT", reply
        # An event to a namespace the socket is not in: ignored (python-socketio's rule), no error
        await raw.ws.send_str('42/live-stream,6["joinStream",{}]')
        await raw.ws.send_str('427["job:subscribe",{}]')
        reply = await raw.receive()
        while reply.startswith('42["job:error"'):  # job:subscribe reports on job:error too
            reply = await raw.receive()
        assert reply.startswith("437["), reply
        await raw.ws.close()

        # Undecodable packets close the connection, with no traceback
        for garbage in ("42[", "4x", "42" + "[" * 100_000 + "]" * 100_000):
            raw = await RawSocket.open(session, gateway)
            await raw.ws.send_str(garbage)
            reply = await raw.receive()
            while reply.startswith("4"):  # anything it still says before closing
                reply = await raw.receive()
            assert reply == "1" or reply.startswith("<"), (garbage[:20], reply)  # engine.io close
            await raw.ws.close()
    await assert_healthy(http)


async def test_malformed_http_is_a_400_from_the_server_itself(
    http: httpx.AsyncClient, gateway: ServiceProcess
) -> None:
    for request in (
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Probe: \x00\r\n\r\n",
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n",
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 not http\r\n\r\n",
    ):
        reader, writer = await asyncio.open_connection("127.0.0.1", gateway.settings.port)
        writer.write(request)
        await writer.drain()
        status = await asyncio.wait_for(reader.readline(), 10)
        writer.close()
        assert status.split(b" ")[1:2] == [b"400"], (request[:30], status)
    await assert_healthy(http)  # and the module's check: no traceback in the log
