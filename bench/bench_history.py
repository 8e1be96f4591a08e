"""Benchmark: live-stream history query latency (typical user; a heavy user's page 1 and a deep
page; counts) among many participation records; live projection throughput (the worker's
projector folding a topic) beside a raw insert_many on the same server; and how long a stream
with many participants takes to show in all their lists once it ends.

Run: .venv/bin/python bench/bench_history.py [--records 1000000] [--user-streams 10000]
     [--repeat 100] [--events 100000] [--fold-batch 1000] [--participants 10000] [--batch 10000]
Servers come from the environment (KAFKA_BOOTSTRAP_SERVERS/MONGODB_URI) or devstack. The history
records are loaded straight into the read-model collections with insert_many in batches (not
through Kafka: the load measures the query side, the throughput part measures the fold).
Figures only, never pass/fail.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import random
import statistics
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from anywhere in the repo

from aiokafka import AIOKafkaProducer  # noqa: E402
from bson import ObjectId  # noqa: E402

from bench.stats import pct  # noqa: E402
from devstack import provide_services  # noqa: E402
from projections.livestream import LivestreamFold  # noqa: E402
from projections.livestream_queries import my_watched  # noqa: E402
from projections.replay.reader import Span, TopicReader  # noqa: E402
from projections.replay.rebuild import SkippedRecords  # noqa: E402
from projections.store import Doc, MongoStore  # noqa: E402
from streams.admin import ensure_topics  # noqa: E402
from streams.consume import BatchProcessor  # noqa: E402
from streams.events import Envelope, encode, new_event  # noqa: E402
from streams.events.livestream import (  # noqa: E402
    ParticipantJoined,
    Role,
    StreamCreated,
    StreamEnded,
    StreamStarted,
    UserProfile,
)
from streams.kafka import record_meta  # noqa: E402
from streams.topics import dlq_name  # noqa: E402
from tests.livestream_model import MemoryModel  # noqa: E402

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def oid(n: int, prefix: int) -> str:
    return f"{prefix:08x}{n:016x}"


def stream_events(sid: str, host: str, viewers: list[str], minute: int) -> list[Envelope]:
    """created, started, one join per viewer, ended: what one stream puts on the log."""
    ids = (str(uuid.UUID(int=random.getrandbits(128))) for _ in itertools.count())

    def ev(data: Any, at: datetime) -> Envelope:
        return new_event(data, key=sid, clock=lambda: at, ids=lambda: next(ids))

    start = T0 + timedelta(minutes=minute)
    out = [
        ev(
            StreamCreated(
                live_stream_id=sid,
                title=f"stream {sid[-6:]}",
                live_stream_type="solo",
                channel_name="bench",
                creator=UserProfile(id=host),
                created_at=start,
            ),
            start,
        ),
        ev(StreamStarted(live_stream_id=sid, started_at=start), start),
    ]
    out += [
        ev(
            ParticipantJoined(
                live_stream_id=sid,
                user_id=v,
                role=Role.AUDIENCE,
                channel="rest",
                joined_at=start + timedelta(seconds=i + 1),
            ),
            start + timedelta(seconds=i + 1),
        )
        for i, v in enumerate(viewers)
    ]
    end = start + timedelta(minutes=30)
    out.append(ev(StreamEnded(live_stream_id=sid, ended_at=end), end))
    return out


def template(sid: str, host: str, viewer: str, minute: int) -> tuple[Doc, Doc]:
    """The projection's own documents for one stream (folded once, then copied per viewer)."""
    model = MemoryModel().apply_all(stream_events(sid, host, [viewer], minute))
    return model.streams[sid], model.history[f"{viewer}:{sid}"]


Batches = Callable[[int], Iterator[list[Doc]]]


def history_docs(n_records: int, user_streams: int, target: str) -> tuple[list[Doc], Batches, int]:
    """Streams and (lazily, in batches) participation documents shaped exactly like the fold's:
    one stream's documents come from the projection's own fold, the rest are copies of them."""
    per_stream = max(1, n_records // user_streams)
    streams: list[Doc] = []
    stream_tpl, part_tpl = template(oid(0, 0xA0), oid(0, 0xB0), target, 0)

    def stream_doc(i: int) -> Doc:
        start = T0 + timedelta(minutes=i)
        return {
            **stream_tpl,
            "_id": oid(i, 0xA0),
            "title": f"stream {i}",
            "creator": {**stream_tpl["creator"], "_id": oid(i % 500, 0xB0)},
            "createdAt": start,
            "startedAt": start,
            "endedAt": start + timedelta(minutes=30),
            "updatedAt": start + timedelta(minutes=30),
        }

    for i in range(user_streams):
        streams.append(stream_doc(i))

    def batches(size: int) -> Iterator[list[Doc]]:
        batch: list[Doc] = []
        for i, stream in enumerate(streams):
            sid, ended = stream["_id"], stream["endedAt"]
            for j in range(per_stream):
                user = target if j == 0 else oid((i * 7919 + j) % 200_000, 0xC0)
                at = stream["startedAt"] + timedelta(seconds=j + 1)
                batch.append(
                    {
                        **part_tpl,
                        "_id": f"{user}:{sid}",
                        "userId": user,
                        "liveStreamId": sid,
                        "firstJoinedAt": at,
                        "endedAt": ended,
                    }
                )
                if len(batch) >= size:
                    yield batch
                    batch = []
        if batch:
            yield batch

    return streams, batches, per_stream * user_streams


async def load(store: MongoStore, args: argparse.Namespace, target: str) -> tuple[int, float]:
    await store.ensure_indexes()  # indexes first: the load pays for them, as production would
    streams, batches, total = history_docs(args.records, args.user_streams, target)
    t0 = time.perf_counter()
    for i in range(0, len(streams), args.batch):
        await (await store.streams()).insert_many(streams[i : i + args.batch], ordered=False)
    loaded = 0
    for batch in batches(args.batch):
        await (await store.history()).insert_many(batch, ordered=False)
        loaded += len(batch)
        if loaded % (args.batch * 20) == 0:
            rate = loaded / (time.perf_counter() - t0)
            print(f"  loaded {loaded:>9,} / {total:,} history records ({rate:,.0f}/s)", flush=True)
    return loaded, time.perf_counter() - t0


def typical_users(args: argparse.Namespace) -> Callable[[int], str]:
    """The n-th sampled one of the ~200,000 other users (each in about records / 200,000
    streams), chosen the way `history_docs` assigns them."""
    per_stream = max(2, args.records // args.user_streams)

    def user(n: int) -> str:
        i, j = (n * 37) % args.user_streams, 1 + n % (per_stream - 1)
        return oid((i * 7919 + j) % 200_000, 0xC0)

    return user


async def timed_queries(
    store: MongoStore,
    users: Callable[[int], str],
    page: int,
    limit: int,
    args: argparse.Namespace,
    *,
    expect: int | None = None,
) -> list[float]:
    """`--repeat` timed runs after `--warmup` ones, fewer (at least 5) past `--budget` s."""
    out: list[float] = []
    started = time.perf_counter()
    for i in range(args.repeat + args.warmup):
        if len(out) >= 5 and time.perf_counter() - started > args.budget:
            break
        t0 = time.perf_counter()
        data = await my_watched(store, users(i), page, limit)
        elapsed = (time.perf_counter() - t0) * 1000
        if expect is not None and len(data["list"]) != expect:
            raise RuntimeError(f"page {page} had {len(data['list'])} items, expected {expect}")
        if not data["list"]:
            raise RuntimeError(f"page {page} of {users(i)} is empty")
        if elapsed > 2000:  # slow servers: show progress
            print(f"  page {page}: run {i + 1} took {elapsed / 1000:.1f} s", flush=True)
        if i >= args.warmup:
            out.append(elapsed)
    return out


async def timed_counts(
    store: MongoStore, users: Callable[[int], str], args: argparse.Namespace
) -> list[float]:
    where = lambda user: {"userId": user, "bucket": "watched", "visible": True}  # noqa: E731
    coll = await store.history()
    out = []
    for i in range(args.repeat + args.warmup):
        t0 = time.perf_counter()
        await coll.count_documents(where(users(i)))
        if i >= args.warmup:
            out.append((time.perf_counter() - t0) * 1000)
    return out


def stream_log(n_events: int, viewers_per_stream: int, prefix: int) -> list[Envelope]:
    events: list[Envelope] = []
    i = 0
    while len(events) < n_events:
        viewers = [oid(i * 100_000 + v, prefix) for v in range(viewers_per_stream)]
        events += stream_events(oid(i, prefix + 1), oid(i % 50, prefix + 2), viewers, i)
        i += 1
    return events


async def produce(bootstrap: str, topic: str, events: list[Envelope]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5, max_batch_size=1 << 20)
    await producer.start()
    try:
        pending = [await producer.send(topic, encode(e), key=e.key.encode()) for e in events]
        await asyncio.gather(*pending)
    finally:
        await producer.stop()


async def fold_topic(
    reader: TopicReader,
    processor: BatchProcessor,
    topic: str,
    start: dict[int, int],
    batch: int,
) -> tuple[int, dict[int, int]]:
    """Fold the topic from `start` to its end with the worker's write path, `batch` records a
    write (the worker's PROJECTION_BATCH_MAX)."""
    end = await reader.end_offsets(topic)
    span = Span(topic, {p: start.get(p, 0) for p in end}, end)
    done = 0
    pending: list[Any] = []  # one partition: gather fetches into batches as take_events does
    async for fetched in reader.batches(span, max_records=batch):
        for records in fetched.values():
            pending += records
        while len(pending) >= batch:
            chunk, pending = pending[:batch], pending[batch:]
            await processor.process([(r.value, record_meta(r)) for r in chunk])
            done += len(chunk)
    if pending:
        await processor.process([(r.value, record_meta(r)) for r in pending])
        done += len(pending)
    return done, end


async def throughput(
    store: MongoStore, raw: MongoStore, bootstrap: str, args: argparse.Namespace
) -> dict[str, Any]:
    """Livestream events folded from a real topic by the worker's projector (batches of
    --fold-batch, one partition), beside a raw insert_many of as many documents."""
    topic = f"bench-ls-{uuid.uuid4().hex[:8]}"
    await ensure_topics(bootstrap, [topic])
    events = stream_log(args.events, 37, 0xD0)  # 40 events per stream
    await produce(bootstrap, topic, events)
    t0 = time.perf_counter()
    model = MemoryModel().apply_all(events)
    fold_s = time.perf_counter() - t0
    processor = BatchProcessor("bench", LivestreamFold(store), SkippedRecords(), dlq_name)
    async with TopicReader(bootstrap) as reader:
        t0 = time.perf_counter()
        done, _ = await fold_topic(reader, processor, topic, {}, args.fold_batch)
        fold_topic_s = time.perf_counter() - t0
    docs = [dict(d) for d in itertools.islice(itertools.cycle(model.history.values()), len(events))]
    for n, d in enumerate(docs):
        d["_id"] = f"raw{n}"
    coll = await raw.history()
    t0 = time.perf_counter()
    for k in range(0, len(docs), args.batch):
        await coll.insert_many(docs[k : k + args.batch], ordered=False)
    raw_s = time.perf_counter() - t0
    return {
        "events": done,
        "docs": len(model.streams) + len(model.history),
        "participations": len(model.history),
        "fold_s": fold_s,
        "handler_s": fold_topic_s,
        "raw_s": raw_s,
        "raw_docs": len(docs),
    }


async def big_end(store: MongoStore, bootstrap: str, participants: int, batch: int) -> dict[str, float]:
    """A stream with `participants` viewers ends: time from appending stream.ended until every
    one of their history lists shows it (folded by the worker's projector from the topic)."""
    topic = f"bench-end-{uuid.uuid4().hex[:8]}"
    await ensure_topics(bootstrap, [topic])
    events = stream_events(oid(1, 0x70), oid(1, 0x71), [oid(v, 0x72) for v in range(participants)], 0)
    ended = events.pop()
    await produce(bootstrap, topic, events)
    processor = BatchProcessor("bench-end", LivestreamFold(store), SkippedRecords(), dlq_name)
    history = await store.history()
    async with TopicReader(bootstrap) as reader:
        _, position = await fold_topic(reader, processor, topic, {}, batch)
        t0 = time.perf_counter()
        await produce(bootstrap, topic, [ended])
        await fold_topic(reader, processor, topic, position, batch)
        fold_s = time.perf_counter() - t0
        visible = await history.count_documents(
            {"liveStreamId": ended.key, "visible": True, "bucket": "watched"}
        )
        shown_s = time.perf_counter() - t0
    sample = oid(participants - 1, 0x72)
    page = await my_watched(store, sample, 1, 10)
    if visible != participants or [i["id"] for i in page["list"]] != [ended.key]:
        raise RuntimeError(f"only {visible} of {participants} lists show the ended stream")
    return {"fold_s": fold_s, "shown_s": shown_s, "participants": participants}


def row(name: str, ms: list[float], base: float | None = None) -> str:
    p50 = statistics.median(ms)
    ratio = f"{p50 / base:8.2f}x" if base else " " * 9
    return f"| {name:<34} | {len(ms):4} | {p50:8.2f} | {pct(ms, 99):8.2f} | {max(ms):8.2f} | {ratio} |"


async def run(mongodb_uri: str, bootstrap: str, args: argparse.Namespace) -> None:
    database = f"bench_history_{uuid.uuid4().hex[:8]}"
    store = MongoStore(mongodb_uri, database, prefix="q_", server_selection_timeout_ms=10000)
    proj = MongoStore(mongodb_uri, database, prefix="p_")
    raw = MongoStore(mongodb_uri, database, prefix="r_")
    end = MongoStore(mongodb_uri, database, prefix="e_")
    target = str(ObjectId())
    try:
        print(f"server {mongodb_uri} database {database}")
        print(
            f"loading {args.user_streams:,} ended streams and "
            f"{(args.records // args.user_streams) * args.user_streams:,} history records "
            f"straight into the read-model collections (insert_many, batches of {args.batch:,})"
        )
        loaded, load_s = await load(store, args, target)
        print(f"load: {loaded:,} history records in {load_s:.1f} s ({loaded / load_s:,.0f}/s)\n")
        limit = 10
        deep = args.user_streams // limit
        typical_user = typical_users(args)
        typical = await timed_queries(store, typical_user, 1, limit, args)
        first = await timed_queries(store, lambda _: target, 1, limit, args, expect=limit)
        last = await timed_queries(store, lambda _: target, deep, limit, args, expect=limit)
        count_typical = await timed_counts(store, typical_user, args)
        count_heavy = await timed_counts(store, lambda _: target, args)
        for s_ in (proj, raw, end):
            await s_.ensure_indexes()
        tp = await throughput(proj, raw, bootstrap, args)
        big = await big_end(end, bootstrap, args.participants, args.fold_batch)
    finally:
        if not args.keep:
            await store.client.drop_database(database)
        for s_ in (store, proj, raw, end):
            await s_.close()

    print(
        f"history query: my_watched (count + page + the page's streams), {loaded:,} history "
        f"records; heavy user: {args.user_streams:,} ended streams; typical: ~"
        f"{loaded // 200_000} streams; limit {limit}"
    )
    print("| query                              | runs |   p50 ms |   p99 ms |   max ms |  vs page 1 |")
    print("| ---------------------------------- | ---- | -------- | -------- | -------- | --------- |")
    base = statistics.median(first)
    print(row("typical user, page 1", typical))
    print(row("heavy user, page 1", first, base))
    print(row(f"heavy user, page {deep} (skip {(deep - 1) * limit:,})", last, base))
    print(row("count only, typical user", count_typical))
    print(row("count only, heavy user", count_heavy))
    print()
    events, docs = tp["events"], tp["docs"]
    raw_rate = tp["raw_docs"] / tp["raw_s"]
    print(
        f"live projection: {events:,} livestream events from a topic -> {docs:,} documents "
        f"({tp['participations']:,} participations), batches of {args.fold_batch}, one partition"
    )
    print("| path                                      |  seconds |   events/s |  vs raw docs/s |")
    print("| ----------------------------------------- | -------- | ---------- | ------------- |")
    print(
        f"| pure fold (MemoryModel, no I/O)           | {tp['fold_s']:8.2f} | "
        f"{events / tp['fold_s']:10,.0f} |               |"
    )
    rate = events / tp["handler_s"]
    print(
        f"| worker projector (topic -> fold -> bulk)  | {tp['handler_s']:8.2f} | {rate:10,.0f} | "
        f"{rate / raw_rate:12.2f}x |"
    )
    print(
        f"| raw insert_many, {tp['raw_docs']:,} docs            | {tp['raw_s']:8.2f} | "
        f"{raw_rate:10,.0f} |         1.00x |"
    )
    print()
    print(
        f"stream end with {big['participants']:,} participants: folded in {big['fold_s']:.2f} s, "
        f"all {big['participants']:,} history lists show it after {big['shown_s']:.2f} s"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--records",
        type=int,
        default=1_000_000,
        help="history (participation) records to load (default 1,000,000)",
    )
    parser.add_argument(
        "--user-streams", type=int, default=10_000, help="ended streams of the measured user (default 10,000)"
    )
    parser.add_argument("--repeat", type=int, default=100, help="runs per query (default 100)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed runs first (default 3)")
    parser.add_argument(
        "--budget",
        type=float,
        default=120.0,
        help="seconds per query series; stops early (>= 5 runs) past it",
    )
    parser.add_argument(
        "--events", type=int, default=100_000, help="livestream events folded from a topic (default 100,000)"
    )
    parser.add_argument(
        "--fold-batch",
        type=int,
        default=1000,
        help="records per projection batch (the worker's PROJECTION_BATCH_MAX)",
    )
    parser.add_argument(
        "--participants",
        type=int,
        default=10_000,
        help="participants of the stream whose end is timed (default 10,000)",
    )
    parser.add_argument("--batch", type=int, default=10_000, help="insert_many batch size")
    parser.add_argument("--keep", action="store_true", help="keep the bench database")
    args = parser.parse_args()
    if args.user_streams < 10 or args.records < args.user_streams:
        parser.error("need --user-streams >= 10 and --records >= --user-streams")
    with provide_services() as services:  # the environment's servers, or local ones
        asyncio.run(run(services.mongodb_uri, services.kafka_bootstrap_servers, args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
