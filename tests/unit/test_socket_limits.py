"""Socket.IO limits without a server: the client address behind proxies, sockets per address,
job rooms per socket, and the gauges they keep."""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest
from socketio.exceptions import ConnectionRefusedError as SocketRefused

from gateway.metrics import SOCKETIO_CONNECTIONS, SOCKETIO_ROOMS
from gateway.realtime.limits import ConnectionLimits, Subscriptions, client_ip
from streams.errors import AppError, ErrorCode

pytestmark = pytest.mark.unit

LOOPBACK = [ipaddress.ip_network("127.0.0.1/32"), ipaddress.ip_network("::1/128")]


class Request:
    def __init__(self, remote: str) -> None:
        self.remote = remote


def environ(peer: str, forwarded: str | None = None) -> dict[str, Any]:
    # engine.io's aiohttp driver writes REMOTE_ADDR as a constant: the peer is the request's
    env: dict[str, Any] = {"REMOTE_ADDR": "127.0.0.1", "aiohttp.request": Request(peer)}
    if forwarded is not None:
        env["HTTP_X_FORWARDED_FOR"] = forwarded
    return env


@pytest.mark.parametrize(
    ("peer", "forwarded", "expected"),
    [
        ("203.0.113.5", None, "203.0.113.5"),
        ("203.0.113.5", "198.51.100.1", "203.0.113.5"),  # an untrusted peer names nobody
        ("127.0.0.1", None, "127.0.0.1"),
        ("127.0.0.1", "198.51.100.1", "198.51.100.1"),  # nginx on loopback
        ("127.0.0.1", "10.9.9.9, 198.51.100.1", "198.51.100.1"),  # the left part is the client's say
        ("127.0.0.1", "198.51.100.1, 127.0.0.1", "198.51.100.1"),  # two trusted hops
        ("127.0.0.1", "127.0.0.1", "127.0.0.1"),
        ("127.0.0.1", "not-an-ip, 198.51.100.1", "198.51.100.1"),
        ("127.0.0.1", "198.51.100.1, garbage", "127.0.0.1"),  # unreadable: stop believing
        ("::1", "2001:db8::7", "2001:db8::7"),
    ],
)
def test_the_client_address_is_the_nearest_untrusted_one(
    peer: str, forwarded: str | None, expected: str
) -> None:
    assert client_ip(environ(peer, forwarded), LOOPBACK) == expected


def test_without_the_aiohttp_request_remote_addr_is_used() -> None:
    assert client_ip({"REMOTE_ADDR": "203.0.113.9"}, LOOPBACK) == "203.0.113.9"


def test_sockets_per_address_are_capped_per_address_and_freed_on_close() -> None:
    limits = ConnectionLimits(2, ["127.0.0.1", "::1"])
    gauge = SOCKETIO_CONNECTIONS.labels(namespace="/t")
    before = gauge._value.get()
    limits.open("/t", "a", environ("203.0.113.1"))
    limits.open("/t", "b", environ("203.0.113.1"))
    limits.open("/t", "b", environ("203.0.113.1"))  # the same socket again: not counted twice
    with pytest.raises(SocketRefused) as refused:
        limits.open("/t", "c", environ("203.0.113.1"))
    assert refused.value.error_args["data"]["code"] == "TOO_MANY_CONNECTIONS"
    limits.open("/t", "d", environ("203.0.113.2"))
    assert gauge._value.get() == before + 3
    limits.close("/t", "a")
    limits.close("/t", "a")  # twice: once counted
    limits.open("/t", "c", environ("203.0.113.1"))
    assert limits.count("203.0.113.1") == 2
    for sid in "bcd":
        limits.close("/t", sid)
    assert gauge._value.get() == before and limits.count("203.0.113.1") == 0


def test_zero_sockets_per_address_is_no_limit() -> None:
    limits = ConnectionLimits(0, [])
    for n in range(500):
        limits.open("/t0", str(n), environ("203.0.113.1"))
    assert limits.count("203.0.113.1") == 500


def test_subscriptions_are_capped_per_socket_finished_jobs_make_room() -> None:
    finished: set[str] = set()
    subs = Subscriptions(3, finished.__contains__)
    rooms_before = SOCKETIO_ROOMS._value.get()
    for job in ("j1", "j2", "j3"):
        assert subs.reserve("s1", job) == []
    assert subs.reserve("s1", "j1") == []  # already followed
    with pytest.raises(AppError) as refused:
        subs.reserve("s1", "j4")
    assert refused.value.code is ErrorCode.TOO_MANY_SUBSCRIPTIONS and refused.value.http_status == 429
    finished.add("j2")
    assert subs.reserve("s1", "j4") == ["j2"]  # the finished job's room is left
    assert subs.of("s1") == {"j1", "j3", "j4"}
    subs.reserve("s2", "j1")  # another socket, the same room
    assert subs.rooms == 3 and SOCKETIO_ROOMS._value.get() == rooms_before + 3
    subs.remove("s1", "j1")
    assert subs.rooms == 3  # s2 is still in j1
    subs.drop("s1")
    subs.drop("s2")
    assert subs.rooms == 0 and SOCKETIO_ROOMS._value.get() == rooms_before
