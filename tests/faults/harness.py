"""The fault suite's shared load: a job mix on the fake Netflix, many Socket.IO clients that ride
through faults, the outcome checks (every job ended, once per client) and `rebuild --verify`."""

from __future__ import annotations

import asyncio
import itertools
import random
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
import socketio

from streams.settings import Settings
from tests.fakes.netflix_server import FakeNetflix
from tests.integration.replay_cli import cli_process, connection_args

TERMINAL = ("job:completed", "job:error")
JOB_EVENTS = ("job:progress", *TERMINAL)
READ_MODELS = ("jobs", "titles", "livestream")
RETRIED_STATUSES = (502, 503, 504)

# What a job of each kind of the mix is expected to end with (kind -> terminal event, code/source).
FRESH, CACHED, FORBIDDEN = "fresh", "cached", "forbidden"

_ids = itertools.count(random.randint(70_000_000, 90_000_000), 13)


@dataclass(frozen=True)
class Planned:
    """One job to post: its URL and the kind of title behind it."""

    url: str
    kind: str


class Mix:
    """Title URLs on the fake Netflix: fresh slow titles, repeated titles (cache hits once the
    first one is scraped), and 403 titles (SCRAPE_ERROR)."""

    def __init__(self, netflix: FakeNetflix, country: str = "de") -> None:
        self.netflix = netflix
        self.country = country

    def url(self, title_id: str) -> str:
        return f"https://www.netflix.com/{self.country}/title/{title_id}"

    def title(self, delay: float = 0.0, title_id: str | None = None) -> str:
        """A new title page (served after `delay` seconds), `title_id` or a fresh id; its id."""
        tid = title_id or str(next(_ids))
        path = f"/{self.country}/title/{tid}"
        self.netflix.add_title(path, title=f"Title {tid}", year=2021, country=self.country)
        if delay:
            self.netflix.set_behaviour(path, delay=delay)
        return tid

    def forbidden(self) -> str:
        tid = str(next(_ids))
        self.netflix.set_behaviour(f"/{self.country}/title/{tid}", status=403)
        return tid

    def build(
        self,
        *,
        fresh: int,
        cached: int,
        forbidden: int,
        delay: float = 0.2,
        warm: Sequence[str] = (),
        seed: int = 12,
    ) -> list[Planned]:
        """`fresh` new titles (each served after `delay`), `cached` jobs spread over the `warm`
        titles (or, without them, over the fresh ones: the first job of a title scrapes it, the
        rest find it cached), `forbidden` 403 titles; shuffled with `seed`."""
        fresh_ids = [self.title(delay) for _ in range(fresh)]
        pool = list(warm) or fresh_ids
        if cached and not pool:
            raise ValueError("cached jobs need warm or fresh titles")
        rng = random.Random(seed)
        plan = [Planned(self.url(t), FRESH) for t in fresh_ids]
        plan += [Planned(self.url(rng.choice(pool)), CACHED) for _ in range(cached)]
        plan += [Planned(self.url(self.forbidden()), FORBIDDEN) for _ in range(forbidden)]
        rng.shuffle(plan)
        return plan


@dataclass
class Job:
    job_id: str
    planned: Planned
    clients: list[int] = field(default_factory=list)


class FollowingClient:
    """A python-socketio client (reconnection on) recording `(event, payload)` per job. After a
    reconnect it subscribes again to the jobs it has not seen end (the gateway replays their
    current state), since python-socketio's client has no connection state recovery."""

    def __init__(self, index: int, base_url: str) -> None:
        self.index = index
        self.base_url = base_url
        self.sio = socketio.AsyncClient(reconnection=True, reconnection_delay=0.2, reconnection_delay_max=2)
        self.events: dict[str, list[tuple[str, dict[str, Any]]]] = defaultdict(list)
        self.following: set[str] = set()
        self.connects = 0
        for name in JOB_EVENTS:
            self.sio.on(name, self._recorder(name))
        self.sio.on("connect", self._on_connect)

    def _recorder(self, name: str) -> Any:
        async def record(payload: dict[str, Any], offset: str | None = None) -> None:
            # `offset`: connection state recovery's tag on every job event, ignored here
            self.events[str(payload.get("jobId") or "?")].append((name, payload))

        return record

    def ended(self, job_id: str) -> bool:
        return any(name in TERMINAL for name, _ in self.events.get(job_id, ()))

    async def _on_connect(self) -> None:
        self.connects += 1
        if self.connects > 1:
            asyncio.get_running_loop().create_task(self._resubscribe())

    async def _resubscribe(self) -> None:
        for job_id in sorted(self.following):
            if not self.ended(job_id):
                await self.subscribe(job_id)

    async def connect(self) -> None:
        await self.sio.connect(self.base_url, transports=["websocket"], wait_timeout=20)

    async def subscribe(self, job_id: str) -> None:
        """Follow a job; retried while the connection is down (the reconnect subscribes again)."""
        self.following.add(job_id)
        for attempt in range(40):
            try:
                ack = await self.sio.call("job:subscribe", job_id, timeout=15)
            except (socketio.exceptions.TimeoutError, socketio.exceptions.BadNamespaceError):
                await asyncio.sleep(min(2.0, 0.1 * 2**attempt))
                continue
            if isinstance(ack, dict) and ack.get("ok"):
                return
            raise AssertionError(f"client {self.index}: job:subscribe {job_id} refused: {ack}")
        raise AssertionError(f"client {self.index}: could not subscribe to {job_id}")


class LoadDriver:
    """K following clients spread over `base_urls`, jobs posted with 503 retries, and waits."""

    def __init__(self, base_urls: Sequence[str], api_key: str, clients: int = 4) -> None:
        self.base_urls = list(base_urls)
        self.api_key = api_key
        self.clients = [FollowingClient(i, self.base_urls[i % len(self.base_urls)]) for i in range(clients)]
        self.jobs: dict[str, Job] = {}
        self.unavailable = 0  # posts retried (502/503/504, dropped connections)
        self.http = httpx.AsyncClient(timeout=30, limits=httpx.Limits(max_connections=50))
        self._next = itertools.count()

    async def start(self) -> LoadDriver:
        await asyncio.gather(*(c.connect() for c in self.clients))
        return self

    async def close(self) -> None:
        await asyncio.gather(*(c.sio.disconnect() for c in self.clients), return_exceptions=True)
        await self.http.aclose()

    async def post(self, planned: Planned, base_url: str | None = None) -> str:
        """POST /api/getinfo/async until a 202 (a 502/503/504 or a dropped connection is retried
        with backoff: until the 202 the job does not exist for us). Returns the job id."""
        base = base_url or self.base_urls[next(self._next) % len(self.base_urls)]
        for attempt in itertools.count():
            try:
                response = await self.http.post(
                    f"{base}/api/getinfo/async",
                    json={"url": planned.url},
                    headers={"X-API-Key": self.api_key},
                )
            except httpx.TransportError:
                response = None
            if response is not None and response.status_code == 202:
                job_id = str(response.json()["data"]["jobId"])
                self.jobs[job_id] = Job(job_id, planned)
                return job_id
            # 503: the gateway cannot append now. 502/504: the load balancer lost the gateway
            # in the middle of the request (a POST is not retried on another one by nginx, as
            # it may have been appended): whether the job exists is unknown, so post it again.
            if response is not None and response.status_code not in RETRIED_STATUSES:
                raise AssertionError(f"POST {planned.url}: {response.status_code} {response.text}")
            self.unavailable += 1
            if attempt >= 30:
                raise AssertionError(f"POST {planned.url}: still unavailable after {attempt} tries")
            await asyncio.sleep(min(2.0, 0.05 * 2**attempt))
        raise AssertionError("unreachable")

    async def run(self, planned: Planned, followers: int = 1) -> str:
        """Post a job, then subscribe it on `followers` clients (round robin), as the seed does
        (none: posted only, see `states`)."""
        job_id = await self.post(planned)
        if not followers:
            return job_id
        start = hash(job_id) % len(self.clients)
        chosen = [self.clients[(start + i) % len(self.clients)] for i in range(followers)]
        self.jobs[job_id].clients = [c.index for c in chosen]
        await asyncio.gather(*(c.subscribe(job_id) for c in chosen))
        return job_id

    async def run_all(self, plan: Sequence[Planned], followers: int = 1, concurrency: int = 50) -> list[str]:
        """Post and follow every planned job, at most `concurrency` posts at a time."""
        gate = asyncio.Semaphore(concurrency)

        async def one(p: Planned) -> str:
            async with gate:
                return await self.run(p, followers)

        return list(await asyncio.gather(*(one(p) for p in plan)))

    def pending(self) -> list[tuple[str, int]]:
        """(job, client) pairs whose terminal event has not arrived yet."""
        return [
            (job.job_id, i)
            for job in self.jobs.values()
            for i in job.clients
            if not self.clients[i].ended(job.job_id)
        ]

    async def wait_all_ended(self, timeout: float, settle: float = 1.0) -> None:
        """Until every followed job's terminal event reached every client following it; then
        `settle` seconds for anything wrongly emitted after it (check_outcome looks for it)."""
        deadline = time.monotonic() + timeout
        while pending := self.pending():
            if time.monotonic() > deadline:
                states = await self.states([job for job, _ in pending[:10]])
                raise AssertionError(
                    f"{len(pending)} (job, client) pairs never got a terminal event within {timeout} s;"
                    f" the first ones and GET /api/jobs: {states}"
                )
            await asyncio.sleep(0.2)
        await asyncio.sleep(settle)

    async def states(self, job_ids: Sequence[str]) -> dict[str, Any]:
        """GET /api/jobs/{id} for each job (status and last step), for failure messages."""
        out: dict[str, Any] = {}
        for job_id in job_ids:
            try:
                r = await self.http.get(
                    f"{self.base_urls[0]}/api/jobs/{job_id}", headers={"X-API-Key": self.api_key}
                )
                data = r.json().get("data") or {}
                out[job_id] = (r.status_code, data.get("status"), data.get("progress"), data.get("step"))
            except (httpx.HTTPError, ValueError) as exc:
                out[job_id] = repr(exc)
        return out


def _step_id(name: str, payload: dict[str, Any]) -> str:
    return f"{name}:{payload.get('stepCode', '')}" if name == "job:progress" else name


def check_outcome(driver: LoadDriver, *, expect_kinds: bool = True) -> dict[str, Any]:
    """Every created job ended, on every client that followed it, with exactly one terminal event;
    no step seen twice with different content; progress never went backwards. With
    `expect_kinds`, fresh and cached titles completed and 403 titles failed with SCRAPE_ERROR.
    Returns counts for the test output (outcomes, sources, exact duplicate steps)."""
    problems: list[str] = []
    outcomes: Counter[str] = Counter()
    duplicates = 0
    for job in driver.jobs.values():
        if not job.clients:
            continue
        for i in job.clients:
            seen = driver.clients[i].events.get(job.job_id, [])
            where = f"job {job.job_id} ({job.planned.kind}) on client {i}"
            terminals = [(n, p) for n, p in seen if n in TERMINAL]
            if len(terminals) != 1:
                problems.append(f"{where}: {len(terminals)} terminal events: {terminals}")
                continue
            name, payload = terminals[0]
            by_step: dict[str, dict[str, Any]] = {}
            progress: list[int] = []
            for n, p in seen:
                sid = _step_id(n, p)
                if sid in by_step:
                    if by_step[sid] != p:
                        problems.append(f"{where}: {sid} twice, different: {by_step[sid]} / {p}")
                    duplicates += 1
                by_step[sid] = p
                if n == "job:progress":
                    progress.append(int(p["progress"]))
            if progress != sorted(progress):
                problems.append(f"{where}: progress went backwards: {progress}")
            if seen[-1][0] not in TERMINAL:
                problems.append(f"{where}: events after the terminal one: {seen}")
            code = payload["error"]["code"] if name == "job:error" else payload.get("source")
            if name == "job:error" and not code:
                problems.append(f"{where}: job:error without a code: {payload}")
            outcomes[f"{name}:{code}"] += 1
            if expect_kinds:
                want = ("job:error",) if job.planned.kind == FORBIDDEN else ("job:completed",)
                if name not in want or (name == "job:error" and code != "SCRAPE_ERROR"):
                    problems.append(f"{where}: ended {name} {payload}, expected {want}")
    assert not problems, f"{len(problems)} problems:\n" + "\n".join(problems[:30])
    return {
        "jobs": len(driver.jobs),
        "outcomes": dict(sorted(outcomes.items())),
        "exact_duplicate_steps": duplicates,
        "posts_retried": driver.unavailable,
    }


async def rebuild_verify(
    settings: Settings, models: Sequence[str] = READ_MODELS, timeout: float = 90
) -> None:
    """`python -m projections.replay rebuild <model> --into <check> --verify` for every read model
    (a pure check: nothing is switched), against the deployment's Kafka and database."""
    for model in models:
        result = await cli_process(
            [
                "rebuild",
                model,
                "--into",
                f"verify_{model}_{int(time.time())}",
                "--verify",
                "--verify-timeout",
                str(timeout),
                *connection_args(settings),
            ],
            limit_seconds=timeout + 120,
        )
        assert result.code == 0, f"rebuild {model} --verify: exit {result.code}\n{result.out}\n{result.err}"
        assert "no differences" in result.out, result.out
