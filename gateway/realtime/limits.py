"""Socket.IO limits: sockets per client address, job rooms per socket, and their gauges."""

from __future__ import annotations

import ipaddress
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from socketio.exceptions import ConnectionRefusedError as SocketRefused

from gateway.metrics import RATE_LIMITED, SOCKETIO_CONNECTIONS, SOCKETIO_ROOMS
from streams.errors import AppError, ErrorCode

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text.strip().strip("[]"))
    except ValueError:
        return None


def client_ip(environ: Mapping[str, Any], trusted: Iterable[Network]) -> str:
    """The client's address: the peer's, unless the peer is a trusted proxy (nginx on the
    same host); then the nearest address in X-Forwarded-For that is not a trusted proxy
    (nginx appends the address it saw, so the right end is the one to believe; addresses
    further left were written by whoever sent the request and are only taken when every
    address right of them is a trusted proxy)."""
    networks = list(trusted)
    # engine.io's aiohttp driver writes REMOTE_ADDR as a constant "127.0.0.1": the peer is the
    # aiohttp request's transport address.
    request = environ.get("aiohttp.request")
    remote = getattr(request, "remote", None) if request is not None else None
    peer = str(remote or environ.get("REMOTE_ADDR") or "")

    def is_trusted(text: str) -> bool:
        address = _address(text)
        return address is not None and any(address in net for net in networks)

    if not is_trusted(peer):
        return peer
    forwarded = str(environ.get("HTTP_X_FORWARDED_FOR") or "")
    hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
    for hop in reversed(hops):
        if _address(hop) is None:  # garbage in the header: stop believing it here
            break
        if not is_trusted(hop):
            return hop
        peer = hop
    return peer


class ConnectionLimits:
    """Sockets per client address, every namespace counted (`max_per_ip` 0: no limit), and
    the open-connections gauge per namespace."""

    def __init__(self, max_per_ip: int, trusted_proxies: Iterable[str]) -> None:
        self.max_per_ip = max_per_ip
        self.trusted = [ipaddress.ip_network(net, strict=False) for net in trusted_proxies]
        self._per_ip: Counter[str] = Counter()
        self._open: dict[tuple[str, str], str] = {}  # (namespace, sid) -> client address

    def count(self, ip: str) -> int:
        return self._per_ip[ip]

    def open(self, namespace: str, sid: str, environ: Mapping[str, Any]) -> str:
        """Count a connection, or refuse it (python-socketio sends the CONNECT_ERROR packet
        `{message, data: {code, message}}`). The client address is returned."""
        ip = client_ip(environ, self.trusted)
        if (namespace, sid) in self._open:
            return ip
        if self.max_per_ip and self._per_ip[ip] >= self.max_per_ip:
            RATE_LIMITED.labels(limit="sockets_per_ip").inc()
            error = AppError(
                f"too many connections from this address: at most {self.max_per_ip} (MAX_SOCKETS_PER_IP)",
                code=ErrorCode.TOO_MANY_CONNECTIONS,
            )
            raise SocketRefused(error.message, error.to_dict())
        self._per_ip[ip] += 1
        self._open[(namespace, sid)] = ip
        SOCKETIO_CONNECTIONS.labels(namespace=namespace).inc()
        return ip

    def close(self, namespace: str, sid: str) -> None:
        ip = self._open.pop((namespace, sid), None)
        if ip is None:
            return
        self._per_ip[ip] -= 1
        if self._per_ip[ip] <= 0:
            del self._per_ip[ip]
        SOCKETIO_CONNECTIONS.labels(namespace=namespace).dec()


class Subscriptions:
    """The job rooms each socket of the default namespace is in, capped per socket
    (`max_per_socket` 0: no limit), and the job-rooms gauge of this gateway.

    Only rooms of unfinished jobs count against the cap: when a socket is at it, the rooms of
    its jobs that `finished(job_id)` says are over are left first (no event comes to them
    any more), so a client that follows job after job and never unsubscribes is not refused."""

    def __init__(self, max_per_socket: int, finished: Callable[[str], bool]) -> None:
        self.max_per_socket = max_per_socket
        self._finished = finished
        self._by_sid: dict[str, set[str]] = {}
        self._members: Counter[str] = Counter()  # job id -> subscribed sockets on this gateway

    def of(self, sid: str) -> set[str]:
        return self._by_sid.get(sid, set())

    @property
    def rooms(self) -> int:
        return len(self._members)

    def reserve(self, sid: str, job_id: str) -> list[str]:
        """Count `job_id` for `sid` before the (slow) subscribe runs, so concurrent subscribes
        cannot pass the cap together; the finished jobs' rooms to leave are returned. Raises
        TOO_MANY_SUBSCRIPTIONS (429) when there is no room even so."""
        jobs = self._by_sid.setdefault(sid, set())
        if job_id in jobs:
            return []
        left: list[str] = []
        if self.max_per_socket and len(jobs) >= self.max_per_socket:
            left = [job for job in jobs if self._finished(job)]
            for job in left:
                self.remove(sid, job)
            if len(jobs) >= self.max_per_socket:
                RATE_LIMITED.labels(limit="subscriptions_per_socket").inc()
                raise AppError(
                    f"this socket follows {len(jobs)} unfinished jobs, the most allowed "
                    "(MAX_SUBSCRIPTIONS_PER_SOCKET): unsubscribe from one first",
                    code=ErrorCode.TOO_MANY_SUBSCRIPTIONS,
                )
        jobs.add(job_id)
        self._members[job_id] += 1
        if self._members[job_id] == 1:
            SOCKETIO_ROOMS.inc()
        return left

    def remove(self, sid: str, job_id: str) -> None:
        jobs = self._by_sid.get(sid)
        if jobs is None or job_id not in jobs:
            return
        jobs.discard(job_id)
        self._members[job_id] -= 1
        if self._members[job_id] <= 0:
            del self._members[job_id]
            SOCKETIO_ROOMS.dec()

    def drop(self, sid: str) -> None:
        """The socket is gone (python-socketio has taken it out of every room)."""
        for job_id in list(self._by_sid.get(sid, ())):
            self.remove(sid, job_id)
        self._by_sid.pop(sid, None)
