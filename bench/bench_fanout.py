"""Benchmark: job fan-out to Socket.IO rooms, the gateway beside a bare python-socketio server.

1,000 websocket clients, rooms of 10: for each job the driver appends `job.created` to Kafka,
10 clients subscribe to it, then it appends `checking_cache` and `completed` (as a worker does).
Both servers tail a job-events topic: the gateway with its real fan-out (decode, tracker,
per-job locks, replay on subscribe), the bare server with `json.loads` and `sio.emit` to the
room and nothing else. Latency is from the driver's append to a client's receipt of each live
delivery (`job:progress` 10 and 100, `job:completed`): the same clock, the same clients' process.
Lost and duplicated deliveries are counted against what each subscribed client should get.
Also the gateway's RSS: idle, with the sockets connected, after the rates, after a burst of
`--burst` whole jobs with no subscriber, and once its finished jobs have aged out.

Run: .venv/bin/python bench/bench_fanout.py [--clients 1000] [--rates 20,50,100] [--seconds 10]
Figures only, never pass/fail.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from anywhere in the repo

import socketio  # noqa: E402
from aiohttp import web  # noqa: E402
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer  # noqa: E402

from bench.stats import pct  # noqa: E402
from devstack import provide_services  # noqa: E402
from devstack.procs import ManagedProcess, start_process  # noqa: E402
from streams.admin import deployment_topics, ensure_topics  # noqa: E402
from streams.events import encode, new_event  # noqa: E402
from streams.events.netflix import (  # noqa: E402
    STEP_DESCRIPTION,
    STEP_PROGRESS,
    JobCompleted,
    JobCreated,
    JobProgress,
    JobStatus,
    JobStep,
    TitleData,
)
from streams.topics import TopicNames  # noqa: E402
from tests.support import free_port, isolated_settings, start_gateway  # noqa: E402

ROOM = 10
TITLE = TitleData(
    title="Hayata Röveşata Çeken Adam",
    year=2022,
    title_id="81616256",
    country="tr",
    url="https://www.netflix.com/tr/title/81616256",
    plot="x" * 400,  # a realistic payload size
    genres=["Comedy", "Drama"],
    cast=["Actor One", "Actor Two", "Actor Three"],
)
LIVE = ("job:progress:10", "job:progress:100", "job:completed")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


# --- the bare server: a separate process, as the gateway is ---------------------------------


async def bare_server(port: int, bootstrap: str, topic: str) -> None:
    sio = socketio.AsyncServer(async_mode="aiohttp", cors_allowed_origins="*")
    app = web.Application()
    sio.attach(app)

    async def subscribe(sid: str, job_id: str) -> dict[str, Any]:
        await sio.enter_room(sid, f"job:{job_id}")
        return {"ok": True, "jobId": job_id}

    sio.on("job:subscribe", subscribe)
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=None, auto_offset_reset="latest")
    await consumer.start()
    await consumer.seek_to_end()

    async def tail() -> None:
        while True:
            for records in (await consumer.getmany(timeout_ms=500)).values():
                for record in records:
                    event = json.loads(record.value)
                    data, to = event["data"], f"job:{event['key']}"
                    step = {k: data.get(k) for k in ("jobId", "progress", "status", "step", "stepCode")}
                    await sio.emit("job:progress", step, room=to)
                    if event["type"] == "job.completed":
                        payload = {"jobId": data["jobId"], "data": data["data"], "source": data["source"]}
                        await sio.emit("job:completed", payload, room=to)

    task = asyncio.create_task(tail())
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    print("bare server started", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        task.cancel()
        await consumer.stop()


# --- clients and driver ----------------------------------------------------------------------


class Clients:
    def __init__(self) -> None:
        self.sockets: list[socketio.AsyncClient] = []
        self.received: dict[tuple[str, str], list[float]] = defaultdict(list)  # (job, what) -> times
        self.counts: Counter[tuple[int, str, str]] = Counter()  # (client, job, what)

    async def connect(self, url: str, n: int) -> None:
        async def one(i: int) -> socketio.AsyncClient:
            sio = socketio.AsyncClient(reconnection=False)

            async def progress(payload: dict[str, Any], *_offset: str) -> None:
                self._got(i, payload["jobId"], f"job:progress:{payload['progress']}")

            async def completed(payload: dict[str, Any], *_offset: str) -> None:
                self._got(i, payload["jobId"], "job:completed")

            sio.on("job:progress", progress)
            sio.on("job:completed", completed)
            await sio.connect(url, transports=["websocket"], wait_timeout=30)
            return sio

        for start in range(0, n, 100):  # in waves: a thousand handshakes at once time out
            self.sockets += await asyncio.gather(*(one(i) for i in range(start, min(n, start + 100))))

    def _got(self, client: int, job: str, what: str) -> None:
        self.received[(job, what)].append(time.perf_counter())
        self.counts[(client, job, what)] += 1

    async def close(self) -> None:
        await asyncio.gather(*(s.disconnect() for s in self.sockets), return_exceptions=True)
        self.sockets = []


async def run_rate(
    clients: Clients, producer: AIOKafkaProducer, topic: str, rate: int, seconds: float
) -> dict[str, Any]:
    groups = [list(range(g * ROOM, (g + 1) * ROOM)) for g in range(len(clients.sockets) // ROOM)]
    sent: dict[tuple[str, str], float] = {}
    members: dict[str, list[int]] = {}
    failures: list[str] = []

    async def append(event: bytes, job: str) -> float:
        t = time.perf_counter()
        await producer.send(topic, event, key=job.encode())  # not awaited: as the worker
        return t

    async def job(n: int) -> None:
        job_id = str(uuid.uuid4())
        group = groups[n % len(groups)]
        members[job_id] = group
        created, checking_cache, completed = job_events(job_id)
        await (await producer.send(topic, created, key=job_id.encode()))
        acks = await asyncio.gather(
            *(clients.sockets[c].call("job:subscribe", job_id, timeout=30) for c in group),
            return_exceptions=True,
        )
        if not all(isinstance(a, dict) and a.get("ok") for a in acks):
            failures.append(f"{job_id}: {acks[0]!r}")
        sent[(job_id, "job:progress:10")] = await append(checking_cache, job_id)
        t = await append(completed, job_id)
        sent[(job_id, "job:progress:100")] = sent[(job_id, "job:completed")] = t

    t0 = time.perf_counter()
    tasks = []
    for n in range(int(rate * seconds)):
        delay = t0 + n / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(job(n)))
    await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - t0
    await asyncio.sleep(3)  # stragglers
    latencies: list[float] = []
    lost = dup = 0
    for (job_id, what), at in sent.items():
        latencies += [(r - at) * 1000 for r in clients.received.get((job_id, what), [])]
        for c in members[job_id]:
            got = clients.counts.get((c, job_id, what), 0)
            lost += got == 0
            dup += max(0, got - 1)
    return {
        "jobs": len(members),
        "deliveries": len(latencies),
        "per_s": len(latencies) / elapsed,
        "p50": statistics.median(latencies) if latencies else 0.0,
        "p99": pct(latencies, 99),
        "lost": lost,
        "dup": dup,
        "failures": failures,
    }


def job_events(job_id: str) -> list[bytes]:
    """A cache-hit job as a worker writes it: created, checking_cache, completed (encoded)."""
    step = JobStep.CHECKING_CACHE
    payloads = (
        JobCreated(job_id=job_id, url=TITLE.url, country="tr", title_id="81616256"),
        JobProgress(
            job_id=job_id,
            progress=STEP_PROGRESS[step],
            status=JobStatus.PROCESSING,
            step=STEP_DESCRIPTION[step],
            step_code=step,
        ),
        JobCompleted(job_id=job_id, source="cache", data=TITLE),
    )
    return [
        encode(new_event(data, key=job_id, sequence=seq, correlation_id=job_id))
        for seq, data in enumerate(payloads, start=1)
    ]


async def burst(producer: AIOKafkaProducer, topic: str, jobs: int) -> None:
    """Whole jobs (created, checking_cache, completed) as fast as the producer takes them."""
    pending = []
    for _ in range(jobs):
        job_id = str(uuid.uuid4())
        for event in job_events(job_id):
            pending.append(await producer.send(topic, event, key=job_id.encode()))
    await asyncio.gather(*pending)


def row(name: str, r: dict[str, Any], base: dict[str, Any] | None) -> str:
    ratio = f"{r['p99'] / base['p99']:.2f}x" if base and base["p99"] else "1.00x"
    return (
        f"| {name:<26} | {r['jobs']:>5} | {r['per_s']:>8.0f} | {r['p50']:>7.2f} | {r['p99']:>8.2f} | "
        f"{r['lost']:>5} | {r['dup']:>4} | {ratio:>9} |"
    )


async def main(args: argparse.Namespace) -> None:
    rates = [int(r) for r in args.rates.split(",")]
    with provide_services() as services, tempfile.TemporaryDirectory() as tmp:
        bootstrap = services.kafka_bootstrap_servers
        # --clients sockets from this one address (MAX_SOCKETS_PER_IP is 256 by default)
        settings = isolated_settings(services, max_sockets_per_ip=0)
        names = TopicNames(settings.topic_prefix)
        bare_topic = f"{settings.topic_prefix}bare.job-events"
        await ensure_topics(bootstrap, [*deployment_topics(names), bare_topic])
        gateway = await start_gateway(settings, Path(tmp))
        assert gateway.proc is not None
        bare_port = free_port()
        bare: ManagedProcess = start_process(
            "bare",
            [sys.executable, __file__, "--bare", str(bare_port), bootstrap, bare_topic],
            log_path=Path(tmp) / "bare.log",
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=0)
        await producer.start()
        results: list[tuple[int, dict[str, Any], dict[str, Any]]] = []
        rss: dict[str, float] = {}
        try:
            for _ in range(100):
                if "started" in (Path(tmp) / "bare.log").read_text(errors="replace"):
                    break
                await asyncio.sleep(0.1)
            rss["idle"] = rss_mb(gateway.proc.pid)
            gw_url, bare_url = f"http://127.0.0.1:{settings.port}", f"http://127.0.0.1:{bare_port}"
            for rate in rates:
                measured = {}
                for which, url, topic in (
                    ("bare", bare_url, bare_topic),
                    ("gateway", gw_url, names.job_events),
                ):
                    clients = Clients()
                    await clients.connect(url, args.clients)
                    if which == "gateway":
                        key = f"{args.clients} sockets"
                        rss[key] = max(rss.get(key, 0), rss_mb(gateway.proc.pid))
                    if rate == rates[0]:  # warm-up, not recorded: first connections, JIT-less caches
                        await run_rate(clients, producer, topic, rate, 1.0)
                    measured[which] = await run_rate(clients, producer, topic, rate, args.seconds)
                    await clients.close()
                    print(f"rate {rate}/s {which}: {measured[which]}"[:300], flush=True)
                results.append((rate, measured["gateway"], measured["bare"]))
            rss["after the rates"] = rss_mb(gateway.proc.pid)
            await burst(producer, names.job_events, args.burst)
            await asyncio.sleep(3)  # the gateway's tail catches up
            rss[f"after a burst of {args.burst} jobs"] = rss_mb(gateway.proc.pid)
            await asyncio.sleep(40)  # finished jobs age out (30 s) and the sweep runs
            rss["40 s later"] = rss_mb(gateway.proc.pid)
        finally:
            await producer.stop()
            bare.stop()
            gateway.stop()
    print(f"\n{args.clients} websocket clients, rooms of {ROOM}, {args.seconds:g} s per rate")
    print("| server @ jobs/s             |  jobs | deliv/s | p50 ms |  p99 ms |  lost |  dup | p99 ratio |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for rate, gw, base in results:
        print(row(f"bare @ {rate}", base, None))
        print(row(f"gateway @ {rate}", gw, base))
    for rate, gw, base in results:
        for f in (gw["failures"] + base["failures"])[:3]:
            print(f"subscribe failure at {rate}/s: {f}")
    print("\n| gateway RSS | MB |\n| --- | ---: |")
    for k, v in rss.items():
        print(f"| {k} | {v:.0f} |")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--bare":
        asyncio.run(bare_server(int(sys.argv[2]), sys.argv[3], sys.argv[4]))
        raise SystemExit
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--rates", default="20,50,100")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--burst", type=int, default=14_000, help="jobs in the RSS burst")
    asyncio.run(main(parser.parse_args()))
