"""Poison and duplicates under load: into every topic the worker consumes, mid-load, undecodable
bytes, JSON that is no envelope, a known type with an invalid payload, an unknown type, and
exact copies of good records. Bad records land in their topic's DLQ with the right code, and
nothing else does; the copies change nothing; every good job ends, once per client."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from devstack import Services
from projections.store import HISTORY, JOBS, STREAMS, TITLES, MongoStore
from streams.errors import EventDecodeError
from streams.events import decode
from streams.topics import ALL_TOPICS, DLQ_HEADER_CODE, DLQ_HEADER_TOPIC, TopicNames, dlq_name
from tests.e2e.test_livestream_history import LiveStreamApi, new_user
from tests.fakes.netflix_server import FakeNetflix
from tests.faults.harness import LoadDriver, Mix, check_outcome, rebuild_verify
from tests.integration.replay_cli import produce
from tests.support import UNTHROTTLED, eventually, isolated_settings, start_gateway, start_worker

pytestmark = [pytest.mark.faults, pytest.mark.timeout(600)]

COPIES_PER_TOPIC = 12
# A record of each kind per topic: (what, value, the code its DLQ record must carry).
NOW = "2026-12-03T10:00:00.000Z"


def bad_records(topic: str) -> list[tuple[str, bytes, str]]:
    """The poison for one topic; each value is unique (the DLQ check matches them by value)."""
    tag = uuid.uuid4().hex
    known = {
        "netflix.scrape-requests": "scrape.requested",
        "netflix.job-events": "job.progress",
        "netflix.titles": "title.scraped",
        "livestream.events": "stream.started",
    }[topic]
    envelope = {"id": tag, "version": 1, "occurredAt": NOW, "key": f"k-{tag}", "sequence": 2}
    return [
        ("undecodable", b"\xff\xfe\x00 not json " + tag.encode(), "DECODE_ERROR"),
        ("no envelope", json.dumps({"id": tag, "type": known, "hello": "world"}).encode(), "DECODE_ERROR"),
        (
            "invalid payload",
            json.dumps({**envelope, "type": known, "data": {"unexpected": tag}}).encode(),
            "INVALID_EVENT",
        ),
        (
            "unknown type",
            json.dumps({**envelope, "type": "thing.teleported", "data": {}}).encode(),
            "UNKNOWN_EVENT",
        ),
    ]


async def read_topic(bootstrap: str, topic: str, partitions: int) -> list[Any]:
    """Every record of `topic` up to its end offsets now (no group: nothing is committed)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        parts = [TopicPartition(topic, p) for p in range(partitions)]
        consumer.assign(parts)
        await consumer.seek_to_beginning(*parts)
        ends = await consumer.end_offsets(parts)
        out: list[Any] = []
        while [tp for tp in parts if await consumer.position(tp) < ends[tp]]:
            for records in (await consumer.getmany(timeout_ms=500)).values():
                out += [r for r in records if r.offset < ends[TopicPartition(r.topic, r.partition)]]
        return out
    finally:
        await consumer.stop()


def decodes(value: bytes | None) -> bool:
    try:
        decode(value)
    except EventDecodeError:
        return False
    return True


async def snapshot(store: MongoStore) -> dict[str, dict[Any, Any]]:
    """Every read-model document by collection and `_id`."""
    out: dict[str, dict[Any, Any]] = {}
    for name in (JOBS, TITLES, STREAMS, HISTORY):
        out[name] = {doc["_id"]: doc async for doc in (await store.collection(name)).find({})}
    return out


def settled(before: dict[str, dict[Any, Any]]) -> dict[str, dict[Any, Any]]:
    """The documents no good event still to come may change: every title and live-stream
    document (nothing is scraped twice, those streams ended), and the jobs that had ended."""
    jobs = {k: d for k, d in before[JOBS].items() if d.get("status") in ("completed", "failed")}
    return {**before, JOBS: jobs}


async def livestream_traffic(api: LiveStreamApi, streams: int) -> None:
    """Streams created, started, joined by a guest and two viewers, and ended, via REST."""
    for _ in range(streams):
        host, guest = new_user(), new_user()
        stream_id = await api.live_stream(host, guests=[guest])
        for user in (guest, new_user(), new_user()):
            await api.join_rest(user, stream_id)
        await api.command(host, stream_id, "end")


async def _caught_up(store: MongoStore, made: int) -> bool:
    """The worker has folded the `made` streams so far (all ended) into the read models."""
    streams = [d async for d in (await store.collection(STREAMS)).find({})]
    return len(streams) == made and all(d.get("status") == "ended" for d in streams)


async def test_poison_and_exact_duplicates_in_every_topic_mid_load(
    services: Services, tmp_path: Path
) -> None:
    began = time.monotonic()
    netflix = FakeNetflix(load_fixtures=False)
    settings = isolated_settings(services, netflix_base_url=await netflix.start(), **UNTHROTTLED)
    names = TopicNames(settings.topic_prefix)
    bootstrap = settings.kafka_bootstrap_servers
    worker = await start_worker(settings, tmp_path)
    gateway = await start_gateway(settings, tmp_path)
    base = f"http://127.0.0.1:{settings.port}"
    driver = await LoadDriver([base], "test-key", clients=6).start()
    store = MongoStore(settings.mongodb_uri, settings.mongodb_database)
    http = httpx.AsyncClient(base_url=base, timeout=30)
    api = LiveStreamApi(settings, http, store)
    try:
        plan = Mix(netflix).build(fresh=80, cached=120, forbidden=30, delay=0.2)
        posting = asyncio.create_task(driver.run_all(plan, followers=2, concurrency=20))
        await livestream_traffic(api, 6)
        await eventually(lambda: len(driver.jobs) >= len(plan) // 4, timeout=120, what="a quarter posted")

        # Mid-load: copies of good records already in each topic, and the poison, all at once.
        expected: Counter[tuple[str, bytes | None, bytes, str]] = Counter()
        sends: list[tuple[str, list[tuple[bytes | None, bytes]]]] = []

        async def good_records(topic: str) -> list[Any]:
            records = await read_topic(bootstrap, topic, settings.topic_partitions)
            good = [r for r in records if decodes(r.value)]
            return good if len(good) >= COPIES_PER_TOPIC else []

        for public in ALL_TOPICS:
            topic = names.name(public)
            good = await eventually(lambda: good_records(topic), timeout=120, interval=0.5, what=f"{topic}")  # noqa: B023
            step = len(good) // COPIES_PER_TOPIC
            copies = [(r.key, r.value) for r in good[::step][:COPIES_PER_TOPIC]]
            poison = []
            for i, (_what, value, code) in enumerate(bad_records(public)):
                key = f"poison-{i}-{uuid.uuid4().hex[:6]}".encode()
                poison.append((key, value))
                expected[(topic, key, value, code)] += 1
            sends.append((topic, copies[: len(copies) // 2] + poison + copies[len(copies) // 2 :]))
        await eventually(lambda: _caught_up(store, 6), timeout=60, what="the streams projected")
        before = settled(await snapshot(store))  # the documents the copies are about, as they are
        await asyncio.gather(*(produce(bootstrap, topic, records) for topic, records in sends))
        await livestream_traffic(api, 4)  # good events after the poison too

        await posting
        await driver.wait_all_ended(300)
        summary = check_outcome(driver)
        assert summary["exact_duplicate_steps"] == 0, summary  # each step reached a client once

        async def dead_letters() -> Counter[tuple[str, bytes | None, bytes, str]]:
            found: Counter[tuple[str, bytes | None, bytes, str]] = Counter()
            for public in ALL_TOPICS:
                topic = names.name(public)
                for r in await read_topic(bootstrap, dlq_name(topic), settings.topic_partitions):
                    headers = {k: v.decode() for k, v in r.headers}
                    assert headers[DLQ_HEADER_TOPIC] == topic, headers
                    found[(topic, r.key, r.value, headers[DLQ_HEADER_CODE])] += 1
            return found

        async def all_dead_lettered() -> bool:
            return sum((await dead_letters()).values()) >= sum(expected.values())

        await eventually(all_dead_lettered, timeout=60, interval=1, what="every poison record in a DLQ")
        await rebuild_verify(settings)  # also waits until the worker committed the whole log
        found = await dead_letters()
        assert found == expected, (
            f"DLQ records not injected: {found - expected}\ninjected, not in a DLQ: {expected - found}"
        )
        # The copies changed nothing: the documents they are about are as they were, byte for
        # byte (`position` too: a record that changes nothing does not move it). A rebuild
        # alone could not tell, as it folds the same copies.
        after = await snapshot(store)
        for name, docs in before.items():
            changed = {k for k, d in docs.items() if after[name].get(k) != d}
            if changed:
                old, new = docs[min(changed)], after[name].get(min(changed)) or {}
                diff = {f: (old.get(f), new.get(f)) for f in {*old, *new} if old.get(f) != new.get(f)}
                raise AssertionError(f"{name}: {len(changed)} documents changed, e.g. {min(changed)}: {diff}")
        compared = {name: len(docs) for name, docs in before.items()}
        took = time.monotonic() - began
        print(f"\n{summary} dead_letters={sum(found.values())} unchanged={compared} took={took:.0f}s")
    finally:
        await driver.close()
        await http.aclose()
        await store.close()
        gateway.stop()
        worker.stop()
        await netflix.stop()
