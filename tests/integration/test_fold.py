"""The read models' one write path: batches of any size give the pure fold, a redelivered batch
is applied exactly once, a concurrent writer is detected, a poison record is dead-lettered."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from projections import jobs
from projections.fold import POSITION, DocCache, DocumentFold
from projections.store import MongoStore
from streams.consume import BatchProcessor, RecordMeta
from streams.errors import UnavailableError, WriteConflictError
from streams.events import encode, new_event
from streams.events.netflix import JobCompleted, JobCreated, JobProgress, JobStatus, JobStep, TitleData

pytestmark = [pytest.mark.integration, pytest.mark.both_mongo_servers]
T0 = datetime(2026, 5, 1, tzinfo=UTC)


def job_log(n_jobs: int) -> list:
    rng = random.Random(3)
    events = []
    for j in range(n_jobs):
        jid = f"job-{j}"
        events.append(
            new_event(
                JobCreated(job_id=jid, url="u", country="tr", title_id=str(j)),
                key=jid,
                sequence=1,
                clock=lambda: T0,
            )
        )
        for seq, (step, p) in enumerate([(JobStep.CHECKING_CACHE, 10), (JobStep.CHECKING_DATABASE, 30)], 2):
            events.append(
                new_event(
                    JobProgress(
                        job_id=jid, progress=p, status=JobStatus.PROCESSING, step=step.value, step_code=step
                    ),
                    key=jid,
                    sequence=seq,
                    clock=lambda s=seq: T0 + timedelta(seconds=s),
                )
            )
        events.append(
            new_event(
                JobCompleted(
                    job_id=jid,
                    source="database",
                    data=TitleData(title=f"T{j}", title_id=str(j), country="tr", url="u"),
                ),
                key=jid,
                sequence=4,
                clock=lambda: T0 + timedelta(seconds=9),
            )
        )
    # interleave jobs (as many producers would) but keep each job's order, and repeat some events
    rng.shuffle(events)
    events.sort(key=lambda e: e.sequence)
    return events + events[: len(events) // 5]


def metas(events: list, topic: str = "t", partition: int = 0, start: int = 0) -> list:
    return [
        (e, RecordMeta(topic=topic, partition=partition, offset=start + i, key=e.key.encode()))
        for i, e in enumerate(events)
    ]


def pure_fold(events: list) -> dict[str, dict]:
    docs: dict[str, dict] = {}
    for event in events:
        key = jobs.doc_id(event)
        new = jobs.apply(docs.get(key), event)
        if new is not None:
            docs[key] = {**new, "_id": key}
    return docs


async def must_not_reject(rejected: list) -> None:
    assert rejected == []


def without_position(docs: list[dict]) -> dict[str, dict]:
    return {d["_id"]: {k: v for k, v in d.items() if k != POSITION} for d in docs}


async def all_docs(store: MongoStore, name: str) -> list[dict]:
    return [d async for d in (await store.collection(name)).find({}).sort("_id")]


@pytest.mark.parametrize("size", [1, 7, 1000])
@pytest.mark.parametrize("cache", [None, 7, 100_000])  # a rebuild's cache; 7: most reads miss
async def test_batches_of_any_size_give_the_pure_fold(
    store: MongoStore, size: int, cache: int | None
) -> None:
    events = job_log(40)
    fold = DocumentFold(
        lambda: store.collection("jobs_x"),
        jobs.doc_id,
        jobs.apply,
        cache=DocCache(cache) if cache is not None else None,
    )
    batch = metas(events)
    for i in range(0, len(batch), size):
        await fold(batch[i : i + size], must_not_reject)
    docs = await all_docs(store, "jobs_x")
    assert without_position(docs) == pure_fold(events)
    last = {}
    for _, meta in batch:
        last[meta.key.decode()] = meta.offset
    # every job's last event repeats an earlier one (no change), so position <= its last offset
    assert all(d[POSITION]["topic"] == "t" and d[POSITION]["offset"] <= last[d["_id"]] for d in docs)


def counting(state: dict | None, event) -> dict:
    """Not idempotent on purpose: counts every event it is given."""
    return {"count": (state or {}).get("count", 0) + 1}


async def test_a_redelivered_batch_is_applied_exactly_once(store: MongoStore) -> None:
    events = job_log(5)[:20]
    batch = metas(events)
    fold = DocumentFold(lambda: store.collection("counts"), jobs.doc_id, counting)
    await fold(batch[:12], must_not_reject)
    await fold(batch[4:20], must_not_reject)  # a crash after the first write: redelivered from offset 4
    await fold(batch, must_not_reject)  # and the whole log again
    counts = {d["_id"]: d["count"] for d in await all_docs(store, "counts")}
    expected: dict[str, int] = {}
    for e in events:
        expected[e.key] = expected.get(e.key, 0) + 1
    assert counts == expected
    # The same records from another partition are different records: applied again.
    await fold(metas(events, partition=1), must_not_reject)
    counts = {d["_id"]: d["count"] for d in await all_docs(store, "counts")}
    assert counts == {k: 2 * v for k, v in expected.items()}


async def test_a_concurrent_writer_is_detected_not_overwritten(store: MongoStore) -> None:
    events = job_log(1)
    batch = metas(events)
    stale = DocumentFold(lambda: store.collection("cas"), jobs.doc_id, counting, cache=DocCache())
    other = DocumentFold(lambda: store.collection("cas"), jobs.doc_id, counting)
    await stale(batch[:1], must_not_reject)
    await other(batch[1:2], must_not_reject)  # written behind the cache's back (a rebalance overlap)
    with pytest.raises(WriteConflictError, match="concurrently") as conflict:
        await stale(batch[2:3], must_not_reject)
    assert conflict.value.retryable  # BatchProcessor refolds the batch
    # after the conflict the cache is dropped: a retry reads the truth and applies once
    await stale(batch[2:3], must_not_reject)
    (doc,) = await all_docs(store, "cas")
    assert doc["count"] == 3 and doc[POSITION]["offset"] == 2


class CollectingSink:
    """Where a processor's dead letters go in this test (a RecordSink)."""

    def __init__(self) -> None:
        self.records: list[tuple[str, bytes | None, dict[str, str]]] = []

    async def send_raw(self, topic: str, *, key: bytes | None, value: bytes | None, headers) -> None:
        self.records.append((topic, value, {k: v.decode() for k, v in headers}))


async def test_a_poison_record_is_dead_lettered_and_the_rest_of_its_batch_written(
    store: MongoStore,
) -> None:
    events = job_log(3)[:9]
    poison = events[4].id

    def picky(state: dict | None, event) -> dict | None:
        if event.id == poison:
            raise ValueError("cannot fold this one")
        return jobs.apply(state, event)

    sink = CollectingSink()
    processor = BatchProcessor(
        name="test",
        handler=DocumentFold(lambda: store.collection("picky"), jobs.doc_id, picky),
        sink=sink,
        dlq_topic=lambda t: t + ".dlq",
    )
    records = [(encode(e), m) for e, m in metas(events)] + [
        (b"not json", RecordMeta(topic="t", partition=0, offset=9, key=b"x"))
    ]
    await processor.process(records)
    assert [(t, h["x-original-offset"], h["x-error-code"]) for t, _, h in sink.records] == [
        ("t.dlq", "9", "DECODE_ERROR"),
        ("t.dlq", "4", "INTERNAL_ERROR"),
    ]
    expected = pure_fold([e for e in events if e.id != poison])
    assert without_position(await all_docs(store, "picky")) == expected


class BrokenSink:
    """A DLQ that cannot be written (the broker is away)."""

    async def send_raw(self, topic: str, *, key: bytes | None, value: bytes | None, headers) -> None:
        raise ConnectionError("broker away")


async def test_nothing_is_written_before_the_batch_rejects_are_dead_lettered(
    store: MongoStore,
) -> None:
    # Were the batch written first, a later event of the same job would move its position past
    # the rejected one, and the redelivery would skip it: never applied, never dead-lettered.
    events = job_log(1)[:4]
    poison = events[1].id

    def picky(state: dict | None, event) -> dict | None:
        if event.id == poison:
            raise ValueError("cannot fold this one")
        return jobs.apply(state, event)

    fold = DocumentFold(lambda: store.collection("order"), jobs.doc_id, picky)
    records = [(encode(e), m) for e, m in metas(events)]
    broken = BatchProcessor("test", fold, BrokenSink(), lambda t: t + ".dlq", retry_seconds=0)
    with pytest.raises(UnavailableError, match="DLQ"):
        await broken.process(records)
    assert await all_docs(store, "order") == []
    sink = CollectingSink()  # the redelivery, once the DLQ is back
    await BatchProcessor("test", fold, sink, lambda t: t + ".dlq").process(records)
    assert [h["x-original-offset"] for _, _, h in sink.records] == ["1"]
    assert without_position(await all_docs(store, "order")) == pure_fold(
        [e for e in events if e.id != poison]
    )


async def test_documents_written_before_positions_named_a_topic_are_folded_on(
    store: MongoStore,
) -> None:
    # Read models written by earlier versions: no position at all (history documents), or
    # {partition, offset} without a topic. The compare-and-set must match them on every server.
    events = job_log(2)
    coll = await store.collection("legacy")
    await coll.insert_many(
        [
            {"_id": "job-0", "count": 10},
            {"_id": "job-1", "count": 20, POSITION: {"partition": 0, "offset": 2}},
        ]
    )
    fold = DocumentFold(lambda: store.collection("legacy"), jobs.doc_id, counting)
    batch = [(e, m) for e, m in metas(events) if m.offset >= 2]
    await fold(batch, must_not_reject)
    docs = {d["_id"]: d for d in await all_docs(store, "legacy")}
    # job-0 had no position: every event applies; job-1 was at offset 2: only later ones do
    assert docs["job-0"]["count"] == 10 + sum(1 for e, _ in batch if e.key == "job-0")
    assert docs["job-1"]["count"] == 20 + sum(1 for e, m in batch if e.key == "job-1" and m.offset > 2)
    assert all(d[POSITION]["topic"] == "t" for d in docs.values())
