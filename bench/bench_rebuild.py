"""Benchmark: `rebuild jobs` throughput beside a plain aiokafka consume and a consume+decode pass of
the same topic, in one run, so the costs of Kafka, the codec and the database are separable.

The log: N job events (default 1,000,000) on a topic with P partitions (default 4), keyed by
jobId. Each job is 6 events: job.created, four job.progress (every 10th job writes one of them
as v1, upcast on read) and job.completed, ~0.5 kB each. Produced first with a batched aiokafka
producer (templates with ids substituted, so producing is not what is measured).

Passes, each over the topic from offset 0:
- consume:  aiokafka getmany, no decode, no database (the floor);
- decode:   consume + `streams.events.decode` (JSON, envelope, upcast, pydantic payload);
- rebuild:  `python -m projections.replay rebuild jobs` code path (decode + the worker's own
            batched projector: one bulk write per fetched chunk, sole-writer cache, one lane
            per partition),
            into a scratch collection, over the first `--rebuild-events` records (default: N;
            the database is the bottleneck, so on a slow machine pass a smaller number).

Run: .venv/bin/python bench/bench_rebuild.py [--events 1000000] [--partitions 4]
     [--rebuild-events 20000]
Servers come from the environment (KAFKA_BOOTSTRAP_SERVERS, MONGODB_URI) or devstack.
Figures only, never pass/fail.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from anywhere in the repo

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition  # noqa: E402

from devstack import provide_services  # noqa: E402
from projections.replay.ranges import OffsetBound  # noqa: E402
from projections.replay.rebuild import RebuildOptions, rebuild  # noqa: E402
from projections.store import MongoStore  # noqa: E402
from streams.admin import ensure_topics  # noqa: E402
from streams.errors import EventDecodeError  # noqa: E402
from streams.events import decode, encode, new_event  # noqa: E402
from streams.events.netflix import (  # noqa: E402
    JobCompleted,
    JobCreated,
    JobProgress,
    JobStatus,
    JobStep,
    TitleData,
)
from streams.topics import TopicNames  # noqa: E402
from tests.support import isolated_settings  # noqa: E402

JOB, EVT = "JOBIDJOBIDJOBIDJOBIDJOBIDJOBIDJOBIDJ", "EVTIDEVTIDEVTIDEVTIDEVTIDEVTIDEVTIDE"
PER_JOB = 6


def templates() -> list[bytes]:
    """One encoded event per step with placeholder ids (36 chars, like a UUID)."""
    title = TitleData(
        title="A Man Called Otto",
        year=2022,
        plot="x" * 120,
        genres=["Drama"],
        cast=["Tom Hanks"],
        title_id="81616256",
        country="tr",
        url="https://www.netflix.com/tr/title/81616256",
    )
    steps = [
        (JobStep.CHECKING_CACHE, 10),
        (JobStep.CHECKING_DATABASE, 30),
        (JobStep.SCRAPING_NETFLIX, 50),
        (JobStep.SAVING_TO_DATABASE, 80),
    ]
    events = [
        new_event(
            JobCreated(job_id=JOB, url=title.url, country="tr", title_id="81616256"),
            key=JOB,
            sequence=1,
            ids=lambda: EVT,
        )
    ]
    events += [
        new_event(
            JobProgress(job_id=JOB, progress=p, status=JobStatus.PROCESSING, step=s.value, step_code=s),
            key=JOB,
            sequence=n,
            ids=lambda: EVT,
        )
        for n, (s, p) in enumerate(steps, start=2)
    ]
    events.append(
        new_event(
            JobCompleted(job_id=JOB, source="netflix", data=title),
            key=JOB,
            sequence=6,
            ids=lambda: EVT,
        )
    )
    return [encode(e) for e in events]


def v1_progress() -> bytes:
    return (
        b'{"id":"' + EVT.encode() + b'","type":"job.progress","version":1,'
        b'"occurredAt":"2026-05-01T12:00:00.000Z","key":"' + JOB.encode() + b'",'
        b'"sequence":3,"data":{"jobId":"' + JOB.encode() + b'","progress":30,'
        b'"status":"processing","step":"checking_database"}}'
    )


async def produce(bootstrap: str, topic: str, n: int) -> float:
    shapes, old = templates(), v1_progress()
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks=1, linger_ms=50, max_batch_size=1024 * 1024)
    await producer.start()
    t0 = time.perf_counter()
    try:
        pending = []
        for i in range(n):
            job, step = i // PER_JOB, i % PER_JOB
            job_id = b"bench-job-%010d" % job
            value = old if (step == 2 and job % 10 == 0) else shapes[step]
            value = value.replace(JOB.encode(), job_id).replace(EVT.encode(), b"%036d" % i)
            pending.append(await producer.send(topic, value, key=job_id))
            if len(pending) >= 20_000:
                await asyncio.gather(*pending)
                pending = []
        await asyncio.gather(*pending)
    finally:
        await producer.stop()
    return time.perf_counter() - t0


async def consume(bootstrap: str, topic: str, partitions: int, n: int, decoding: bool) -> float:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=None,
        enable_auto_commit=False,
        fetch_max_bytes=64 * 1024 * 1024,
        max_partition_fetch_bytes=16 * 1024 * 1024,
    )
    await consumer.start()
    tps = [TopicPartition(topic, p) for p in range(partitions)]
    consumer.assign(tps)
    await consumer.seek_to_beginning(*tps)
    seen = bad = 0
    t0 = time.perf_counter()
    try:
        while seen < n:
            for records in (await consumer.getmany(timeout_ms=1000, max_records=5000)).values():
                seen += len(records)
                if decoding:
                    for record in records:
                        try:
                            decode(record.value)
                        except EventDecodeError:
                            bad += 1
    finally:
        await consumer.stop()
    if bad:
        raise RuntimeError(f"{bad} records did not decode")
    return time.perf_counter() - t0


def row(name: str, events: int, seconds: float, base: float | None) -> str:
    rate = events / seconds
    ratio = f"{rate / base:.4f}x" if base else "1x"
    return f"| {name:<48} | {events:>9,} | {seconds:8.1f} | {rate:>10,.0f} | {ratio:>9} |"


async def main(args: argparse.Namespace) -> None:
    n, parts = args.events, args.partitions
    rebuild_n = min(args.rebuild_events or n, n)
    per_partition = -(-rebuild_n // parts)  # --until offset:K cuts every partition at K
    with provide_services() as services:
        settings = isolated_settings(services)
        topic = TopicNames(settings.topic_prefix).job_events
        await ensure_topics(settings.kafka_bootstrap_servers, [topic], partitions=parts)
        print(f"producing {n:,} events to {topic} ({parts} partitions)...", flush=True)
        produced = await produce(settings.kafka_bootstrap_servers, topic, n)
        print(f"produced in {produced:.1f} s ({n / produced:,.0f}/s)", flush=True)
        plain = await consume(settings.kafka_bootstrap_servers, topic, parts, n, decoding=False)
        print(f"consume: {plain:.1f} s", flush=True)
        decoded = await consume(settings.kafka_bootstrap_servers, topic, parts, n, decoding=True)
        print(f"decode: {decoded:.1f} s", flush=True)
        out = io.StringIO()
        t0 = time.perf_counter()
        await rebuild(
            settings,
            RebuildOptions(
                projection="jobs",
                into="bench_jobs",
                until=OffsetBound(per_partition),
                progress=args.progress,
            ),
            out,
        )
        rebuilt_s = time.perf_counter() - t0
        applied = int(
            next(line for line in out.getvalue().splitlines() if line.startswith("applied")).split()[1]
        )
        store = MongoStore(settings.mongodb_uri, settings.mongodb_database)
        docs = await store.db["bench_jobs"].count_documents({})
        await store.client.drop_database(settings.mongodb_database)
        await store.close()
    base = n / plain
    print(
        f"\nservers: kafka={services.origin['kafka']} mongodb={services.origin['mongodb']}; "
        f"rebuild wrote {docs:,} job documents"
    )
    print(f"| {'pass':<48} | {'events':>9} | {'seconds':>8} | {'events/s':>10} | {'vs consume':>9} |")
    print("| --- | ---: | ---: | ---: | ---: |")
    print(row("consume (aiokafka getmany, no decode)", n, plain, None))
    print(row("consume + decode (codec, upcast, pydantic)", n, decoded, base))
    print(row("rebuild jobs (decode + fold + bulk writes)", applied, rebuilt_s, base))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument(
        "--rebuild-events",
        type=int,
        default=0,
        help="rebuild only the first ones (cut per partition); default all",
    )
    parser.add_argument("--progress", action="store_true", default=None)
    asyncio.run(main(parser.parse_args()))
