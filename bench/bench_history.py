"""Benchmark: live-stream history query latency (page 1 and a deep page) for a user with many
ended streams among many participation records, and projection throughput (the worker's
handler) beside a raw pymongo bulk write of the same documents on the same server.

Run: .venv/bin/python bench/bench_history.py [--records 1000000] [--user-streams 10000]
     [--repeat 100] [--events 20000] [--batch 10000] [--keep]
Servers come from the environment (KAFKA_BOOTSTRAP_SERVERS/MONGODB_URI) or devstack. The history
records are loaded straight into the read-model collections with insert_many in batches (not
through Kafka: the load measures the query side, the throughput part measures the fold).
Figures only, never pass/fail.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import os
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

from bson import ObjectId  # noqa: E402

from devstack import provide_services  # noqa: E402
from projections.livestream import MemoryModel, livestream_handler  # noqa: E402
from projections.livestream_queries import my_watched  # noqa: E402
from projections.store import Doc, MongoStore  # noqa: E402
from streams.events import Envelope, new_event  # noqa: E402
from streams.events.livestream import (  # noqa: E402
    ParticipantJoined,
    Role,
    StreamCreated,
    StreamEnded,
    StreamStarted,
    UserProfile,
)
from streams.pipeline import RecordMeta  # noqa: E402

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def oid(n: int, prefix: int) -> str:
    return f"{prefix:08x}{n:016x}"


def stream_events(sid: str, host: str, viewers: list[str], minute: int) -> list[Envelope]:
    """created, started, one join per viewer, ended: what one stream puts on the log."""
    ids = (str(uuid.UUID(int=random.getrandbits(128))) for _ in itertools.count())

    def ev(data: Any, at: datetime) -> Envelope:
        return new_event(data, key=sid, clock=lambda: at, ids=lambda: next(ids))

    start = T0 + timedelta(minutes=minute)
    out = [
        ev(StreamCreated(live_stream_id=sid, title=f"stream {sid[-6:]}", live_stream_type="solo",
                         channel_name="bench", creator=UserProfile(id=host), created_at=start),
           start),
        ev(StreamStarted(live_stream_id=sid, started_at=start), start),
    ]
    out += [ev(ParticipantJoined(live_stream_id=sid, user_id=v, role=Role.AUDIENCE,
                                 channel="rest", joined_at=start + timedelta(seconds=i + 1)),
               start + timedelta(seconds=i + 1)) for i, v in enumerate(viewers)]
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
        return {**stream_tpl, "_id": oid(i, 0xA0), "title": f"stream {i}", "creator": {
            **stream_tpl["creator"], "_id": oid(i % 500, 0xB0)}, "createdAt": start,
            "startedAt": start, "endedAt": start + timedelta(minutes=30),
            "updatedAt": start + timedelta(minutes=30)}

    for i in range(user_streams):
        streams.append(stream_doc(i))

    def batches(size: int) -> Iterator[list[Doc]]:
        batch: list[Doc] = []
        for i, stream in enumerate(streams):
            sid, ended = stream["_id"], stream["endedAt"]
            for j in range(per_stream):
                user = target if j == 0 else oid((i * 7919 + j) % 200_000, 0xC0)
                at = stream["startedAt"] + timedelta(seconds=j + 1)
                batch.append({**part_tpl, "_id": f"{user}:{sid}", "userId": user,
                              "liveStreamId": sid, "firstJoinedAt": at,
                              "endedAt": ended})
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
        await store.streams.insert_many(streams[i:i + args.batch], ordered=False)
    loaded = 0
    for batch in batches(args.batch):
        await store.history.insert_many(batch, ordered=False)
        loaded += len(batch)
        if loaded % (args.batch * 20) == 0:
            rate = loaded / (time.perf_counter() - t0)
            print(f"  loaded {loaded:>9,} / {total:,} history records ({rate:,.0f}/s)", flush=True)
    return loaded, time.perf_counter() - t0


async def timed_queries(
    store: MongoStore, target: str, page: int, limit: int, args: argparse.Namespace
) -> list[float]:
    """`--repeat` timed runs after `--warmup` ones, fewer (at least 5) past `--budget` s."""
    out: list[float] = []
    started = time.perf_counter()
    for i in range(args.repeat + args.warmup):
        if len(out) >= 5 and time.perf_counter() - started > args.budget:
            break
        t0 = time.perf_counter()
        data = await my_watched(store, target, page, limit)
        elapsed = (time.perf_counter() - t0) * 1000
        if len(data["list"]) != limit:
            raise RuntimeError(f"page {page} had {len(data['list'])} items, expected {limit}")
        if elapsed > 2000:  # slow servers: show progress
            print(f"  page {page}: run {i + 1} took {elapsed / 1000:.1f} s", flush=True)
        if i >= args.warmup:
            out.append(elapsed)
    return out


async def throughput(store: MongoStore, raw: MongoStore, n_events: int) -> dict[str, Any]:
    """Events through the pure fold alone, through the worker's handler (fold + MongoDB), and
    the final documents written with one raw bulk insert on the same server."""
    viewers_per_stream = 37  # 40 events per stream
    events: list[Envelope] = []
    i = 0
    while len(events) < n_events:
        viewers = [oid(i * 100 + v, 0xD0) for v in range(viewers_per_stream)]
        events += stream_events(oid(i, 0xE0), oid(i % 50, 0xF0), viewers, i)
        i += 1
    t0 = time.perf_counter()
    model = MemoryModel().apply_all(events)
    fold_s = time.perf_counter() - t0
    handler = livestream_handler(store)
    per_type: dict[str, list[float]] = {}
    t0 = time.perf_counter()
    for offset, event in enumerate(events):
        t1 = time.perf_counter()
        await handler(event, RecordMeta(topic="bench", partition=0, offset=offset, key=None))
        per_type.setdefault(event.type, []).append((time.perf_counter() - t1) * 1000)
    handler_s = time.perf_counter() - t0
    docs = len(model.streams) + len(model.history)
    t0 = time.perf_counter()
    await raw.streams.insert_many(list(model.streams.values()), ordered=False)
    await raw.history.insert_many(list(model.history.values()), ordered=False)
    raw_s = time.perf_counter() - t0
    return {"events": len(events), "docs": docs, "participations": len(model.history),
            "fold_s": fold_s, "handler_s": handler_s, "raw_s": raw_s, "per_type": per_type}


async def run(mongodb_uri: str, args: argparse.Namespace) -> None:
    database = f"bench_history_{uuid.uuid4().hex[:8]}"
    store = MongoStore(mongodb_uri, database, prefix="q_", server_selection_timeout_ms=10000)
    proj = MongoStore(mongodb_uri, database, prefix="p_")
    raw = MongoStore(mongodb_uri, database, prefix="r_")
    target = str(ObjectId())
    try:
        print(f"server {mongodb_uri} database {database}")
        print(f"loading {args.user_streams:,} ended streams and "
              f"{(args.records // args.user_streams) * args.user_streams:,} history records "
              f"straight into the read-model collections (insert_many, batches of {args.batch:,})")
        loaded, load_s = await load(store, args, target)
        print(f"load: {loaded:,} history records in {load_s:.1f} s ({loaded / load_s:,.0f}/s)\n")
        limit = 10
        deep = args.user_streams // limit
        first = await timed_queries(store, target, 1, limit, args)
        last = await timed_queries(store, target, deep, limit, args)
        await proj.ensure_indexes()
        await raw.ensure_indexes()
        tp = await throughput(proj, raw, args.events)
    finally:
        if not args.keep:
            await store.client.drop_database(database)
        for s in (store, proj, raw):
            await s.close()

    base = statistics.median(first)
    print(f"history query: my_watched for a user with {args.user_streams:,} ended streams, "
          f"{loaded:,} history records, limit {limit}")
    print("| query                         | runs |   p50 ms |   p99 ms |   max ms | p50 ratio |")
    print("| ----------------------------- | ---- | -------- | -------- | -------- | --------- |")
    for name, ms in (("page 1", first), (f"page {deep} (last, skip {(deep - 1) * limit:,})", last)):
        p50 = statistics.median(ms)
        print(f"| {name:<29} | {len(ms):4} | {p50:8.2f} | {pct(ms, 99):8.2f} | {max(ms):8.2f} "
              f"| {p50 / base:8.1f}x |")
    print()
    events, docs = tp["events"], tp["docs"]
    print(f"projection: {events:,} events -> {docs:,} documents "
          f"({tp['participations']:,} participations), sequential, one partition")
    print("| path                                 |  seconds |   events/s |     docs/s | vs raw |")
    print("| ------------------------------------ | -------- | ---------- | ---------- | ------ |")
    rows = (("pure fold (MemoryModel, no I/O)", tp["fold_s"]),
            ("worker handler (fold + MongoDB r/w)", tp["handler_s"]),
            ("raw pymongo insert_many, same docs", tp["raw_s"]))
    for name, secs in rows:
        print(f"| {name:<36} | {secs:8.2f} | {events / secs:10,.0f} | {docs / secs:10,.0f} "
              f"| {secs / tp['raw_s']:5.1f}x |")
    print("\nhandler latency per event type (one read-fold-write each; ms)")
    print("| type                 | count |   p50 |   p99 |")
    print("| -------------------- | ----- | ----- | ----- |")
    for etype, ms in sorted(tp["per_type"].items()):
        print(f"| {etype:<20} | {len(ms):5} | {statistics.median(ms):5.1f} | {pct(ms, 99):5.1f} |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000,
                        help="history (participation) records to load (default 1,000,000)")
    parser.add_argument("--user-streams", type=int, default=10_000,
                        help="ended streams of the measured user (default 10,000)")
    parser.add_argument("--repeat", type=int, default=100, help="runs per query (default 100)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed runs first (default 3)")
    parser.add_argument("--budget", type=float, default=120.0,
                        help="seconds per query series; stops early (>= 5 runs) past it")
    parser.add_argument("--events", type=int, default=20_000,
                        help="events through the handler for the throughput part (default 20,000)")
    parser.add_argument("--batch", type=int, default=10_000, help="insert_many batch size")
    parser.add_argument("--keep", action="store_true", help="keep the bench database")
    args = parser.parse_args()
    if args.user_streams < 10 or args.records < args.user_streams:
        parser.error("need --user-streams >= 10 and --records >= --user-streams")
    uri = os.environ.get("MONGODB_URI", "").strip()
    with contextlib.ExitStack() as stack:
        if not uri:
            uri = stack.enter_context(provide_services()).mongodb_uri
        asyncio.run(run(uri, args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
