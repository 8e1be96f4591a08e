"""Benchmark: the highest cache-hit job rate sustained at p99 <= 1 s, for 1 worker + 1 gateway
and for N workers + N gateways (topics with 6 partitions), in one run.

Open loop: jobs are started on a fixed schedule (not after the previous one ends), spread over
60 titles so that they spread over the partitions, posted round-robin to the gateways, each
followed by one subscriber (the seed's flow: POST, `job:subscribe`, wait for `job:completed`).
Each rate runs for `--seconds`; the ladder stops at the first rate whose p99 is over 1 s or
that loses a job. Latency is POST sent -> `job:completed` received.

Run: .venv/bin/python bench/bench_throughput.py [--scale 2] [--rates 25,50,100,150,200,300]
Figures only, never pass/fail.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from anywhere in the repo

import aiohttp  # noqa: E402
import socketio  # noqa: E402

from bench.stats import pct  # noqa: E402
from devstack import provide_services  # noqa: E402
from tests.fakes.netflix_server import FakeNetflix  # noqa: E402
from tests.support import UNTHROTTLED, ServiceProcess, free_port, isolated_settings  # noqa: E402

TITLES = [f"8161{n:04d}" for n in range(60)]
SUBSCRIBERS_PER_GATEWAY = 50


class Subscribers:
    """Socket.IO clients on one gateway; a job's end wakes its waiter."""

    def __init__(self) -> None:
        self.sockets: list[socketio.AsyncClient] = []
        self.waiters: dict[str, asyncio.Future[str]] = {}

    async def connect(self, url: str, n: int) -> None:
        async def one() -> socketio.AsyncClient:
            sio = socketio.AsyncClient(reconnection=False)

            def ended(payload: dict[str, Any], name: str) -> None:
                waiter = self.waiters.get(payload.get("jobId") or "")
                if waiter is not None and not waiter.done():
                    waiter.set_result(name)

            async def completed(payload: dict[str, Any], *_offset: str) -> None:
                ended(payload, "completed")

            async def error(payload: dict[str, Any], *_offset: str) -> None:
                ended(payload, "error")

            sio.on("job:completed", completed)
            sio.on("job:error", error)
            await sio.connect(url, transports=["websocket"], wait_timeout=30)
            return sio

        self.sockets = list(await asyncio.gather(*(one() for _ in range(n))))

    async def close(self) -> None:
        await asyncio.gather(*(s.disconnect() for s in self.sockets), return_exceptions=True)


async def run_rate(
    http: aiohttp.ClientSession, gateways: list[tuple[str, Subscribers]], rate: int, seconds: float
) -> dict[str, Any]:
    latencies: list[float] = []
    lost: list[str] = []

    async def job(n: int) -> None:
        url, subs = gateways[n % len(gateways)]
        title = TITLES[n % len(TITLES)]
        t0 = time.perf_counter()
        try:
            async with http.post(
                f"{url}/api/getinfo/async",
                json={"url": f"https://www.netflix.com/tr/title/{title}"},
                headers={"X-API-Key": "test-key"},
            ) as response:
                body = await response.json()
            job_id = body["data"]["jobId"]
            waiter = subs.waiters[job_id] = asyncio.get_running_loop().create_future()
            sock = subs.sockets[n % len(subs.sockets)]
            await sock.call("job:subscribe", job_id, timeout=30)
            result = await asyncio.wait_for(waiter, 30)
            if result != "completed":
                lost.append(f"{job_id}: {result}")
                return
            latencies.append((time.perf_counter() - t0) * 1000)
            subs.waiters.pop(job_id, None)
        except Exception as exc:  # noqa: BLE001 - a lost job is a figure here, not a crash
            lost.append(f"{type(exc).__name__}: {exc}"[:200])

    t0 = time.perf_counter()
    tasks = []
    for n in range(int(rate * seconds)):
        delay = t0 + n / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(job(n)))
    started = time.perf_counter() - t0
    await asyncio.gather(*tasks)
    return {
        "rate": rate,
        "offered": len(tasks) / started if started else 0.0,
        "done": len(latencies),
        "p50": statistics.median(latencies) if latencies else 0.0,
        "p99": pct(latencies, 99),
        "lost": lost,
    }


async def deployment(
    services: Any, base: str, tmp: Path, scale: int, rates: list[int], seconds: float
) -> list[dict[str, Any]]:
    settings = isolated_settings(services, netflix_base_url=base, topic_partitions=6, **UNTHROTTLED)
    procs: list[ServiceProcess] = []
    subs: list[Subscribers] = []
    try:
        for i in range(scale):
            worker = ServiceProcess(f"worker-{i}", ["-m", "runtime", "worker"], settings, tmp).start()
            procs.append(worker)
        ports = [settings.port] + [free_port() for _ in range(scale - 1)]
        for i, port in enumerate(ports):
            gateway = ServiceProcess(
                f"gateway-{i}", ["-m", "gateway"], settings, tmp, env={"PORT": str(port)}
            ).start()
            procs.append(gateway)
        for proc in procs:
            await proc.wait_for_log("worker ready" if proc.name.startswith("worker") else "gateway started")
        gateways = []
        for port in ports:
            s = Subscribers()
            await s.connect(f"http://127.0.0.1:{port}", SUBSCRIBERS_PER_GATEWAY)
            subs.append(s)
            gateways.append((f"http://127.0.0.1:{port}", s))
        async with aiohttp.ClientSession() as http:
            # Fill the cache with every title (the first job of each is a scrape), then warm up.
            warm = await run_rate(http, gateways, len(TITLES), 1.0)
            if warm["lost"]:
                raise RuntimeError(f"warm-up lost jobs: {warm['lost'][:3]}")
            await run_rate(http, gateways, 25, 2.0)
            out = []
            for rate in rates:
                result = await run_rate(http, gateways, rate, seconds)
                print(
                    f"  {scale}w+{scale}g @ {rate}/s: p50 {result['p50']:.1f} p99 {result['p99']:.1f} "
                    f"done {result['done']} lost {len(result['lost'])}",
                    flush=True,
                )
                out.append(result)
                if result["lost"] or result["p99"] > 1000:
                    break
                await asyncio.sleep(2)  # drain
            return out
    finally:
        for s in subs:
            await s.close()
        for proc in procs:
            proc.stop()


async def main(args: argparse.Namespace) -> None:
    rates = [int(r) for r in args.rates.split(",")]
    table: dict[int, list[dict[str, Any]]] = {}
    with provide_services() as services, tempfile.TemporaryDirectory() as tmp:
        netflix = FakeNetflix(load_fixtures=False)
        base = await netflix.start()
        for title in TITLES:
            netflix.add_title(f"/tr/title/{title}", title=f"Title {title}", year=2022)
        try:
            for scale in (1, args.scale):
                table[scale] = await deployment(services, base, Path(tmp), scale, rates, args.seconds)
        finally:
            await netflix.stop()
    print(f"\ncache-hit jobs, 1 subscriber each, {args.seconds:g} s per rate, 6 partitions")
    print("| deployment | jobs/s offered | done | p50 ms | p99 ms | lost |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for scale, results in table.items():
        for r in results:
            print(
                f"| {scale} worker + {scale} gateway | {r['rate']} | {r['done']} | {r['p50']:.1f} | "
                f"{r['p99']:.1f} | {len(r['lost'])} |"
            )
    for scale, results in table.items():
        ok = [r["rate"] for r in results if not r["lost"] and r["p99"] <= 1000]
        best = max(ok) if ok else "none"
        print(f"highest rate at p99 <= 1 s, {scale} worker(s) + {scale} gateway(s): {best} jobs/s")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scale", type=int, default=2)
    parser.add_argument("--rates", default="25,50,100,150,200,300")
    parser.add_argument("--seconds", type=float, default=10.0)
    asyncio.run(main(parser.parse_args()))
