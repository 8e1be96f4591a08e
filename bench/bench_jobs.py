"""Benchmark: cache-hit job latency (POST -> job:completed at a subscribed Socket.IO client),
beside a raw aiokafka produce -> consume hop on the same broker, in one run.

Run: .venv/bin/python bench/bench_jobs.py [--jobs 500] [--hops 500] [--rounds 5]
Hops and jobs are measured in alternating rounds, each round's hops on a fresh topic.
Servers come from the environment or devstack (as in the tests). Figures only, never pass/fail.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from anywhere in the repo

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer  # noqa: E402

from bench.stats import pct  # noqa: E402
from devstack import provide_services  # noqa: E402
from streams.admin import ensure_topics  # noqa: E402
from tests.e2e.jobclient import JobClient  # noqa: E402
from tests.fakes.netflix_server import FakeNetflix  # noqa: E402
from tests.support import UNTHROTTLED, isolated_settings, start_gateway, start_worker  # noqa: E402


def row(name: str, ms: list[float], base: float | None = None) -> str:
    p50, p99 = statistics.median(ms), pct(ms, 99)
    ratio = f"{p50 / base:6.1f}x" if base else "  1.0x"
    return f"| {name:<44} | {len(ms):>5} | {p50:8.2f} | {p99:8.2f} | {max(ms):8.2f} | {ratio} |"


async def kafka_hops(bootstrap: str, n: int) -> list[float]:
    """One record produced, then awaited by a consumer already positioned at the end: n times."""
    topic = f"bench-hop-{uuid.uuid4().hex[:8]}"
    await ensure_topics(bootstrap, [topic])
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=0)
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, group_id=None, auto_offset_reset="latest", fetch_max_wait_ms=10
    )
    await producer.start()
    await consumer.start()
    await consumer.seek_to_end()
    out: list[float] = []
    try:
        for i in range(n + 20):
            t0 = time.perf_counter()
            await producer.send_and_wait(topic, b"x" * 300, key=str(i).encode())
            await consumer.getone()
            if i >= 20:  # warm-up excluded
                out.append((time.perf_counter() - t0) * 1000)
    finally:
        await consumer.stop()
        await producer.stop()
    return out


async def cache_hit_jobs(client: JobClient, url: str, n: int) -> list[float]:
    out: list[float] = []
    for i in range(n + 20):
        t0 = time.perf_counter()
        job = await client.run_job(url)
        await client.finished(job, timeout=30, settle=0)
        elapsed = (time.perf_counter() - t0) * 1000
        name, payload = client.terminal(job)
        if name != "job:completed" or payload["source"] != "cache":
            raise RuntimeError(f"job {job} was not a cache hit: {name} {payload}")
        if i >= 20:
            out.append(elapsed)
    return out


async def main(args: argparse.Namespace) -> None:
    with provide_services() as services, tempfile.TemporaryDirectory() as tmp:
        netflix = FakeNetflix(load_fixtures=False)
        base = await netflix.start()
        netflix.add_title("/tr/title/81616256", title="Hayata Röveşata Çeken Adam", year=2022)
        settings = isolated_settings(services, netflix_base_url=base, **UNTHROTTLED)
        worker = await start_worker(settings, Path(tmp))
        gateway = await start_gateway(settings, Path(tmp))
        client = await JobClient(f"http://127.0.0.1:{settings.port}", "test-key").connect()
        try:
            url = "https://www.netflix.com/tr/title/81616256"
            first = await client.run_job(url)  # fills the cache
            await client.finished(first, timeout=60)
            # Interleaved rounds, so that both see the same machine (its speed drifts).
            hops: list[float] = []
            jobs: list[float] = []
            hop_rounds: list[float] = []
            for _ in range(args.rounds):
                round_hops = await kafka_hops(services.kafka_bootstrap_servers, args.hops // args.rounds)
                hops += round_hops
                hop_rounds.append(statistics.median(round_hops))
                jobs += await cache_hit_jobs(client, url, args.jobs // args.rounds)
        finally:
            await client.close()
            gateway.stop()
            worker.stop()
            await netflix.stop()
    base_p50 = statistics.median(hops)
    print(
        f"\nservers: kafka={services.origin['kafka']} mongodb={services.origin['mongodb']}; "
        f"upstream requests: {netflix.requests_for('81616256')}"
    )
    print(
        "| measurement                                  |     n |  p50 ms |  p99 ms |  max ms | p50 vs hop |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    print(row("raw aiokafka produce->consume hop", hops))
    print(row("cache-hit job: POST -> job:completed", jobs, base_p50))
    print(f"\nhop p50 per round (ms): {', '.join(f'{h:.2f}' for h in hop_rounds)}")
    print("\nA cache-hit job: the gateway's 2 appends (one round trip), 1 consume by the worker, its")
    print("2 appends (only the last awaited), 1 consume by the gateway's fan-out, plus the HTTP POST and")
    print("the Socket.IO subscribe/replay.")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=500)
    parser.add_argument("--hops", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=5, help="hops and jobs alternate in rounds")
    asyncio.run(main(parser.parse_args()))
