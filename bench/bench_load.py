"""Benchmark: a long mixed load. `--concurrency` jobs always in flight (each slot posts a job,
has it followed by two of `--clients` Socket.IO clients, waits for its end, and starts the
next) for `--seconds`, on W workers + G gateways against real Kafka and the Mongo-wire server.

The mix cycles through cache hits (60 hot titles), fresh titles (a new title each time, the fake
upstream answering after `--fresh-delay-ms`) and failures (a title the upstream answers 403:
`job:error` SCRAPE_ERROR). Reported:
- completions lost (a follower that got no terminal event) and duplicated (one that got two);
- p50/p99 from POST sent to the first follower's terminal event, by kind;
- gateway RSS before, during (median and max of 5 s samples) and 30 s after the load;
- worker and gateway CPU (cores used during the load, from /proc);
- the read-model lag when the load stops: the worker group's committed lag on the job-event
  topic, and how long until the jobs read model shows the last job's end.

Run: .venv/bin/python bench/bench_load.py [--seconds 300] [--concurrency 500] [--clients 1000]
     [--workers 2] [--gateways 1]
Figures only, never pass/fail.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import random
import statistics
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from anywhere in the repo

import aiohttp  # noqa: E402
import socketio  # noqa: E402
from aiokafka import AIOKafkaConsumer, TopicPartition  # noqa: E402
from aiokafka.admin import AIOKafkaAdminClient  # noqa: E402

from bench.stats import pct  # noqa: E402
from devstack import provide_services  # noqa: E402
from streams.topics import TopicNames  # noqa: E402
from tests.fakes.netflix_server import FakeNetflix  # noqa: E402
from tests.support import UNTHROTTLED, ServiceProcess, free_port, isolated_settings  # noqa: E402

HOT = [f"7161{n:04d}" for n in range(60)]
FORBIDDEN = "70000403"
KINDS = ("cache", "cache", "cache", "cache", "cache", "cache", "cache", "fresh", "fresh", "failure")
FOLLOWERS = 2
JOB_TIMEOUT = 120.0
_fresh_ids = itertools.count(random.randint(10_000_000, 60_000_000))


def proc_stats(pid: int) -> tuple[float, float]:
    """(CPU seconds so far, RSS MB) of a process, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])  # utime + stime
    rss_kb = next(
        int(line.split()[1])
        for line in Path(f"/proc/{pid}/status").read_text().splitlines()
        if line.startswith("VmRSS:")
    )
    return ticks / 100.0, rss_kb / 1024.0


class Followers:
    """The Socket.IO clients; terminal events counted per (client, job)."""

    def __init__(self) -> None:
        self.sockets: list[socketio.AsyncClient] = []
        self.terminals: Counter[tuple[int, str]] = Counter()
        self.first: dict[str, asyncio.Future[tuple[str, float]]] = {}

    async def connect(self, urls: list[str], n: int) -> None:
        async def one(i: int) -> socketio.AsyncClient:
            sio = socketio.AsyncClient(reconnection=True)

            def ended(name: str) -> Any:
                async def handler(payload: dict[str, Any], *_offset: str) -> None:
                    job = payload.get("jobId") or "?"
                    self.terminals[(i, job)] += 1
                    await sio.emit("job:unsubscribe", job)  # as the seed's client does
                    waiter = self.first.get(job)
                    if waiter is not None and not waiter.done():
                        waiter.set_result((name, time.perf_counter()))

                return handler

            sio.on("job:completed", ended("completed"))
            sio.on("job:error", ended("error"))
            await sio.connect(urls[i % len(urls)], transports=["websocket"], wait_timeout=30)
            return sio

        for start in range(0, n, 100):  # in waves: a thousand handshakes at once time out
            self.sockets += await asyncio.gather(*(one(i) for i in range(start, min(n, start + 100))))

    async def close(self) -> None:
        await asyncio.gather(*(s.disconnect() for s in self.sockets), return_exceptions=True)


class Load:
    def __init__(self, netflix: FakeNetflix, urls: list[str], followers: Followers, delay_s: float) -> None:
        self.netflix, self.urls, self.followers, self.delay_s = netflix, urls, followers, delay_s
        self.latency: dict[str, list[float]] = defaultdict(list)
        self.outcomes: Counter[str] = Counter()
        self.followed: list[tuple[str, list[int]]] = []  # job, the clients that follow it
        self.failures: list[str] = []
        self.last_job = ""

    def title(self, kind: str) -> str:
        if kind == "cache":
            return random.choice(HOT)
        if kind == "failure":
            return FORBIDDEN
        title = str(next(_fresh_ids))
        self.netflix.add_title(f"/tr/title/{title}", title=f"Fresh {title}", year=2024)
        self.netflix.set_behaviour(f"/tr/title/{title}", delay=self.delay_s)
        return title

    async def slot(self, http: aiohttp.ClientSession, n: int, until: float) -> None:
        kinds = itertools.cycle(KINDS[n % len(KINDS) :] + KINDS[: n % len(KINDS)])
        while time.perf_counter() < until:
            await self.job(http, next(kinds))

    async def job(self, http: aiohttp.ClientSession, kind: str) -> None:
        url = random.choice(self.urls)
        t0 = time.perf_counter()
        try:
            async with http.post(
                f"{url}/api/getinfo/async",
                json={"url": f"https://www.netflix.com/tr/title/{self.title(kind)}"},
                headers={"X-API-Key": "test-key"},
            ) as response:
                body = await response.json()
            if response.status != 202:
                self.failures.append(f"POST {response.status}: {body.get('code')}")
                await asyncio.sleep(1)
                return
            job_id = body["data"]["jobId"]
            self.last_job = job_id
            waiter = self.followers.first[job_id] = asyncio.get_running_loop().create_future()
            chosen = random.sample(range(len(self.followers.sockets)), FOLLOWERS)
            self.followed.append((job_id, chosen))
            for i in chosen:
                await self.followers.sockets[i].emit("job:subscribe", job_id)
            name, t1 = await asyncio.wait_for(waiter, JOB_TIMEOUT)
            self.latency[kind].append((t1 - t0) * 1000)
            self.outcomes[f"{kind}:{name}"] += 1
            self.followers.first.pop(job_id, None)
        except Exception as exc:  # noqa: BLE001 - a lost job is a figure here, not a crash
            self.failures.append(f"{type(exc).__name__}: {exc}"[:200])


async def committed_lag(bootstrap: str, group: str, topic: str) -> int:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await admin.start()
    await consumer.start()
    try:
        committed = await admin.list_consumer_group_offsets(group)
        parts = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or set()]
        if not parts:
            await consumer.topics()  # metadata refresh, then once more
            parts = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or set()]
        ends = await consumer.end_offsets(parts)
        return sum(end - (committed[tp].offset if tp in committed else 0) for tp, end in ends.items())
    finally:
        await consumer.stop()
        await admin.close()


async def read_model_catch_up(http: aiohttp.ClientSession, url: str, job_id: str) -> float:
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < 120:
        async with http.get(f"{url}/api/jobs/{job_id}", headers={"X-API-Key": "test-key"}) as response:
            if response.status == 200 and (await response.json())["data"]["status"] in (
                "completed",
                "failed",
            ):
                return time.perf_counter() - t0
        await asyncio.sleep(0.05)
    return float("inf")


async def run(args: argparse.Namespace, services: Any, tmp: Path) -> dict[str, Any]:
    netflix = FakeNetflix(load_fixtures=False)
    base = await netflix.start()
    for title in HOT:
        netflix.add_title(f"/tr/title/{title}", title=f"Hot {title}", year=2022)
    netflix.set_behaviour(f"/tr/title/{FORBIDDEN}", status=403)
    # --clients sockets from this one address: UNTHROTTLED lifts MAX_SOCKETS_PER_IP too
    settings = isolated_settings(
        services,
        netflix_base_url=base,
        topic_partitions=6,
        scrape_concurrency=args.scrape_concurrency,
        **UNTHROTTLED,
    )
    procs: list[ServiceProcess] = []
    followers = Followers()
    try:
        for i in range(args.workers):
            procs.append(ServiceProcess(f"worker-{i}", ["-m", "runtime", "worker"], settings, tmp).start())
        ports = [settings.port] + [free_port() for _ in range(args.gateways - 1)]
        for i, port in enumerate(ports):
            env = {"PORT": str(port)}
            procs.append(ServiceProcess(f"gateway-{i}", ["-m", "gateway"], settings, tmp, env=env).start())
        for proc in procs:
            await proc.wait_for_log("worker ready" if proc.name.startswith("worker") else "gateway started")
        urls = [f"http://127.0.0.1:{port}" for port in ports]
        pids = {p.name: p.proc.pid for p in procs if p.proc is not None}
        gateways = [name for name in pids if name.startswith("gateway")]
        await followers.connect(urls, args.clients)
        load = Load(netflix, urls, followers, args.fresh_delay_ms / 1000)
        connector = aiohttp.TCPConnector(limit=args.concurrency)
        async with aiohttp.ClientSession(connector=connector) as http:
            await asyncio.gather(*(fill(load, http, t) for t in HOT))  # hot titles: hits from now on
            rss_before = {g: proc_stats(pids[g])[1] for g in gateways}
            cpu0 = {name: proc_stats(pid)[0] for name, pid in pids.items()}
            rss_during: dict[str, list[float]] = defaultdict(list)
            t0 = time.perf_counter()
            until = t0 + args.seconds

            async def sample() -> None:
                while time.perf_counter() < until:
                    await asyncio.sleep(5)
                    for g in gateways:
                        rss_during[g].append(proc_stats(pids[g])[1])

            sampler = asyncio.create_task(sample())
            await asyncio.gather(*(load.slot(http, n, until) for n in range(args.concurrency)))
            wall = time.perf_counter() - t0
            cpu = {name: (proc_stats(pid)[0] - cpu0[name]) / wall for name, pid in pids.items()}
            sampler.cancel()
            lag = await committed_lag(
                settings.kafka_bootstrap_servers,
                settings.app_id,
                TopicNames(settings.topic_prefix).job_events,
            )
            catch_up = await read_model_catch_up(http, urls[0], load.last_job) if load.last_job else 0.0
            await asyncio.sleep(5)  # late duplicates would arrive by now
            lost = sum(
                1 for job, chosen in load.followed for i in chosen if followers.terminals[(i, job)] == 0
            )
            dup = sum(1 for job, chosen in load.followed for i in chosen if followers.terminals[(i, job)] > 1)
            await asyncio.sleep(25)
            rss_after = {g: proc_stats(pids[g])[1] for g in gateways}
        return {
            "wall": wall,
            "jobs": len(load.followed),
            "outcomes": dict(load.outcomes),
            "latency": {k: (statistics.median(v), pct(v, 99), len(v)) for k, v in load.latency.items()},
            "lost": lost,
            "dup": dup,
            "failures": load.failures,
            "rss": {
                g: (
                    rss_before[g],
                    statistics.median(rss_during[g] or [0]),
                    max(rss_during[g] or [0]),
                    rss_after[g],
                )
                for g in gateways
            },
            "cpu": cpu,
            "lag_events": lag,
            "catch_up_s": catch_up,
        }
    finally:
        await followers.close()
        for proc in procs:
            proc.stop()
        await netflix.stop()


async def fill(load: Load, http: aiohttp.ClientSession, title: str) -> None:
    """One scrape per hot title before the clock starts."""
    url = load.urls[0]
    async with http.post(
        f"{url}/api/getinfo",
        json={"url": f"https://www.netflix.com/tr/title/{title}"},
        headers={"X-API-Key": "test-key"},
    ) as response:
        await response.read()


def report(args: argparse.Namespace, r: dict[str, Any]) -> None:
    print(
        f"\n{args.workers} worker(s) + {args.gateways} gateway(s), {args.concurrency} jobs in flight, "
        f"{args.clients} Socket.IO clients ({FOLLOWERS} follow each job), {r['wall']:.0f} s"
    )
    print(f"jobs: {r['jobs']} ({r['jobs'] / r['wall']:.1f}/s); outcomes: {r['outcomes']}")
    print(f"completions lost: {r['lost']}, duplicated: {r['dup']}; other failures: {len(r['failures'])}")
    for failure, count in Counter(r["failures"]).most_common(5):
        print(f"  {count} x {failure}")
    print("| kind | jobs | p50 ms (POST -> terminal) | p99 ms |")
    print("| --- | ---: | ---: | ---: |")
    for kind, (p50, p99, n) in sorted(r["latency"].items()):
        print(f"| {kind} | {n} | {p50:.0f} | {p99:.0f} |")
    print("| gateway | RSS before MB | during median | during max | 30 s after |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for g, (before, median, peak, after) in r["rss"].items():
        print(f"| {g} | {before:.0f} | {median:.0f} | {peak:.0f} | {after:.0f} |")
    print(
        "CPU (cores used during the load): " + ", ".join(f"{k} {v:.2f}" for k, v in sorted(r["cpu"].items()))
    )
    print(
        f"read-model lag when the load stopped: {r['lag_events']} job events behind (committed offsets); "
        f"the last job's end in the read model after {r['catch_up_s']:.2f} s"
    )


async def main(args: argparse.Namespace) -> None:
    with provide_services() as services, tempfile.TemporaryDirectory() as tmp:
        report(args, await run(args, services, Path(tmp)))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=300.0)
    parser.add_argument("--concurrency", type=int, default=500)
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--gateways", type=int, default=1)
    parser.add_argument("--fresh-delay-ms", type=float, default=100.0)
    parser.add_argument("--scrape-concurrency", type=int, default=16, help="SCRAPE_CONCURRENCY (1: serial)")
    asyncio.run(main(parser.parse_args()))
