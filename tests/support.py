"""Test helpers: waiting for asynchronous results, and running worker/gateway processes."""

from __future__ import annotations

import asyncio
import itertools
import os
import random
import re
import socket
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

import httpx
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.coordinator.protocol import ConsumerProtocolMemberAssignment
from aiokafka.partitioner import DefaultPartitioner

from devstack.procs import ManagedProcess, start_process
from streams.settings import Settings
from streams.topics import title_key

T = TypeVar("T")
REPO = Path(__file__).resolve().parent.parent


async def eventually(
    check: Callable[[], Awaitable[T]] | Callable[[], T],
    timeout: float = 30.0,
    interval: float = 0.1,
    what: str = "condition",
) -> T:
    """Call `check` until it returns a truthy value without raising AssertionError; return it."""
    deadline = time.monotonic() + timeout
    last: BaseException | None = None
    while True:
        try:
            result = check()
            if asyncio.iscoroutine(result) or isinstance(result, Awaitable):
                result = await result  # type: ignore[misc]
            if result:
                return result  # type: ignore[return-value]
            last = None
        except AssertionError as exc:
            last = exc
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not reached within {timeout} s" + (f": {last}" if last else ""))
        await asyncio.sleep(interval)


def unique(prefix: str = "t") -> str:
    return f"{prefix}{uuid.uuid4().hex[:10]}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# Load and fault runs hammer our own fake Netflix from one host with one API key: no fetch rate
# limit and no circuit breaker towards it (tests/integration/test_politeness.py covers both; the
# concurrent-fetch cap stays), no job rate limit per key (tests/e2e/test_rate_limit.py), and no
# per-address socket or per-socket subscription cap (a harness client follows hundreds of jobs,
# and all clients share 127.0.0.1; tests/e2e/test_hostile_inputs.py covers them).
UNTHROTTLED: dict[str, Any] = {
    "scrape_max_fetches_per_second": 0.0,
    "scrape_breaker_threshold": 0,
    "max_subscriptions_per_socket": 0,
    "max_sockets_per_ip": 0,
    "job_rate_limit_per_second": 0.0,
}


def isolated_settings(services: Any, **overrides: Any) -> Settings:
    """Settings for one isolated deployment: its own topic prefix, app id and database."""
    name = unique()
    base = {
        "kafka_bootstrap_servers": services.kafka_bootstrap_servers,
        "mongodb_uri": services.mongodb_uri,
        "mongodb_database": f"db_{name}",
        "topic_prefix": f"{name}.",
        "api_keys": frozenset({"test-key"}),
        "jwt_secret": f"test-secret-{name}-0123456789abcdef",
        "host": "127.0.0.1",
        "port": free_port(),
        "scrape_backoff_seconds": 0.05,
        "projection_wait_seconds": 10.0,
    }
    base.update(overrides)
    return Settings(**base)


class ServiceProcess:
    """A worker or gateway in a subprocess, with its log kept for the failure message."""

    def __init__(
        self,
        name: str,
        argv: list[str],
        settings: Settings,
        log_dir: Path,
        env: dict[str, str] | None = None,
    ) -> None:
        self.name = name
        self.argv = argv
        self.settings = settings
        self.env = env or {}
        self.log_path = log_dir / f"{name}-{uuid.uuid4().hex[:6]}.log"
        self.proc: ManagedProcess | None = None

    def start(self) -> ServiceProcess:
        env = {**os.environ, **self.settings.to_env(), **self.env, "PYTHONUNBUFFERED": "1"}
        self.proc = start_process(
            self.name, [sys.executable, *self.argv], log_path=self.log_path, env=env, cwd=REPO
        )
        return self

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    async def wait_for_log(self, pattern: str, timeout: float = 90.0) -> None:
        regex = re.compile(pattern)

        def check() -> bool:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited ({self.proc.poll()}):\n{self.log()[-4000:]}")
            return bool(regex.search(self.log()))

        try:
            await eventually(check, timeout=timeout, interval=0.2, what=f"{self.name} log /{pattern}/")
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n--- {self.name} log ---\n{self.log()[-4000:]}") from None

    def stop(self) -> int | None:
        return self.proc.stop(timeout=15) if self.proc else None


async def start_worker(settings: Settings, log_dir: Path, name: str = "worker") -> ServiceProcess:
    worker = ServiceProcess(name, ["-m", "runtime", "worker"], settings, log_dir).start()
    await worker.wait_for_log(r"worker ready")
    return worker


async def start_gateway(settings: Settings, log_dir: Path) -> ServiceProcess:
    gateway = ServiceProcess("gateway", ["-m", "gateway"], settings, log_dir).start()
    await gateway.wait_for_log(r"gateway started")
    return gateway


@asynccontextmanager
async def gateway_running(settings: Settings, log_dir: Path) -> AsyncIterator[ServiceProcess]:
    """A gateway alone (no worker) for the block, stopped however the block ends."""
    gateway = await start_gateway(settings, log_dir)
    try:
        yield gateway
    finally:
        gateway.stop()


async def group_assignment(settings: Settings) -> dict[str, dict[str, set[int]]]:
    """The worker consumer group as the broker describes it: member id -> topic -> partitions.
    Empty while the group rebalances (a member's assignment is only known once it is stable)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap_servers)
    await admin.start()
    try:
        [response] = await admin.describe_consumer_groups([settings.topic_prefix + settings.app_id])
    finally:
        await admin.close()
    _error, _group, state, _type, _protocol, members = response.groups[0][:6]
    if state != "Stable":
        return {}
    out: dict[str, dict[str, set[int]]] = {}
    for member_id, *_rest, assignment in members:
        decoded = ConsumerProtocolMemberAssignment.decode(assignment)
        out[member_id] = {topic: set(partitions) for topic, partitions in decoded.assignment}
    return out


_title_ids = itertools.count(random.randint(10_000_000, 60_000_000), 7)


def title_on(partition: int, partitions: int, country: str = "de") -> str:
    """A fresh title id whose title key the partitioner puts on `partition` of `partitions`."""
    ids = map(str, _title_ids)
    return next(t for t in ids if key_partition(title_key(country, t), partitions) == partition)


def key_partition(key: str, partitions: int) -> int:
    """The partition a producer's default partitioner (the gateway's, Faust's) picks for `key`."""
    return int(DefaultPartitioner()(key.encode("utf-8"), list(range(partitions)), list(range(partitions))))


async def nginx_upstream_port(lb_url: str, nginx_prefix: Path) -> int:
    """The gateway port nginx sends this host to (it hashes the client address): a probe
    request through it, then its line in nginx's access log."""
    probe = uuid.uuid4().hex
    async with httpx.AsyncClient(timeout=10) as http:
        assert (await http.get(f"{lb_url}/healthz?probe={probe}")).status_code == 200
    log = nginx_prefix / "access.log"

    def port() -> int:
        lines = [line for line in log.read_text().splitlines() if probe in line]
        assert lines, "not logged yet"
        return int(lines[0].split("upstream=")[1].split()[0].rsplit(":", 1)[1])

    return await eventually(port, timeout=5, what="the probe in nginx's access log")
