"""What `make run WORKERS=N GATEWAYS=N LB=…` starts: named children, their ports, nginx or not.

The expansion is here, in Python, rather than in Makefile loops, so it is unit-tested: workers
`worker-1..N`; gateways `gateway-1..N` on PORT, PORT+1, … — or, with nginx in front, nginx on
PORT and the gateways on PORT+1, … bound to loopback (only nginx is reachable from outside).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from devstack.nginx import NginxSite
from devstack.supervise import ProcSpec

LB_CHOICES = ("auto", "1", "0")
_TRUE = {"1", "yes", "on", "true"}
_FALSE = {"0", "no", "off", "false"}
MAX_PORT = 65535


def parse_lb(text: str) -> bool | None:
    """`auto` -> None (decided by the gateway count), 1/yes/on/true -> True, 0/no/off/false -> False."""
    value = text.strip().lower()
    if value == "auto":
        return None
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError(f"LB={text!r}: expected auto, 1 or 0")


@dataclass(frozen=True)
class Plan:
    """The children to supervise, the URLs that must answer before "ready", and nginx's site."""

    specs: list[ProcSpec]
    ready_urls: list[str]
    nginx: NginxSite | None = None
    public_url: str | None = None


@dataclass(frozen=True)
class Topology:
    workers: int
    gateways: int
    port: int
    lb: bool | None = None  # None: nginx only when there is more than one gateway
    listen_host: str = "0.0.0.0"  # where the public port (nginx, or gateways without it) binds
    # worker-i serves Prometheus metrics on metrics_port + i - 1 (default PORT + 100, i.e. 3100)
    metrics_port: int | None = None

    def __post_init__(self) -> None:
        if self.workers < 0 or self.gateways < 0:
            raise ValueError("WORKERS and GATEWAYS must be 0 or more")
        if self.lb and self.gateways < 1:
            raise ValueError("LB=1 needs at least one gateway behind nginx")
        last = self.port + self.gateways - (0 if self.with_lb else 1)
        if not 1 <= self.port <= MAX_PORT or last > MAX_PORT:
            raise ValueError(f"ports {self.port}..{last} are not all valid TCP ports")

    @property
    def with_lb(self) -> bool:
        return self.gateways > 1 if self.lb is None else self.lb

    def gateway_ports(self) -> list[int]:
        first = self.port + 1 if self.with_lb else self.port
        return [first + i for i in range(self.gateways)]

    def worker_metrics_ports(self) -> list[int]:
        first = self.port + 100 if self.metrics_port is None else self.metrics_port
        return [first + i for i in range(self.workers)]

    def expand(self, worker_argv: Sequence[str], gateway_argv: Sequence[str]) -> Plan:
        specs = [
            ProcSpec(f"worker-{i}", list(worker_argv), {"METRICS_PORT": str(port)})
            for i, port in enumerate(self.worker_metrics_ports(), start=1)
        ]
        # Behind nginx a gateway listens on loopback only; alone, where the user asked (HOST).
        gateway_host = "127.0.0.1" if self.with_lb else self.listen_host
        for i, port in enumerate(self.gateway_ports(), start=1):
            env = {"PORT": str(port), "HOST": gateway_host}
            specs.append(ProcSpec(f"gateway-{i}", list(gateway_argv), env))
        ready = [f"http://127.0.0.1:{port}/readyz" for port in self.gateway_ports()]
        site = None
        if self.with_lb:
            site = NginxSite(
                self.listen_host, self.port, tuple(("127.0.0.1", port) for port in self.gateway_ports())
            )
            ready.append(f"http://127.0.0.1:{self.port}/readyz")  # last: the public address
        public = f"http://127.0.0.1:{self.port}" if self.gateways else None
        return Plan(specs, ready, site, public)
