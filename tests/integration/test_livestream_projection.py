"""The live-stream projection through the real pipeline (aiokafka -> Kafka -> Faust agent ->
MongoDB): the documents equal the pure fold's, late joins and deletes after the end are right,
every event delivered twice changes nothing, and a replay from offset 0 rebuilds the same."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from projections import livestream_queries as q
from projections.store import MongoStore
from streams.admin import deployment_topics, ensure_topics
from streams.events import Envelope, encode, new_event
from streams.events.livestream import (
    ParticipantJoined,
    Role,
    StreamCreated,
    StreamDeleted,
    StreamEnded,
    StreamStarted,
    StreamUpdated,
    UserProfile,
)
from streams.settings import Settings
from streams.topics import TopicNames
from tests.livestream_model import MemoryModel
from tests.support import ServiceProcess, eventually, isolated_settings, start_worker, unique

pytestmark = [pytest.mark.integration, pytest.mark.both_mongo_servers]
T0 = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
H1, H2, G, F1, F2, F3 = (f"65f0000000000000000000{i:02x}" for i in range(0x10, 0x16))
S = [f"65f00000000000000000a0{i:02x}" for i in range(1, 9)]
USERS = (H1, H2, G, F1, F2, F3)


def recorded_log() -> list[Envelope]:
    """A log with every shape the fold must get right, in the order a gateway writes it."""
    ids = (f"evt-{n:04d}" for n in itertools.count(1))
    events: list[Envelope] = []

    def add(data: Any, minute: float) -> None:
        key = data.live_stream_id
        events.append(
            new_event(data, key=key, clock=lambda: T0 + timedelta(minutes=minute), ids=lambda: next(ids))
        )

    def t(minute: float) -> datetime:
        return T0 + timedelta(minutes=minute)

    def create(sid: str, host: str, minute: float, guests: tuple[str, ...] = ()) -> None:
        add(
            StreamCreated(
                live_stream_id=sid,
                title=f"stream {sid[-2:]}",
                live_stream_type="solo",
                channel_name="c",
                guests=list(guests),
                creator=UserProfile(id=host),
                created_at=t(minute),
            ),
            minute,
        )

    def join(sid: str, user: str, role: Role, minute: float, channel: str = "rest") -> None:
        add(
            ParticipantJoined(
                live_stream_id=sid, user_id=user, role=role, channel=channel, joined_at=t(minute)
            ),
            minute,
        )

    # S0: host, guest, repeated audience joins, an update, then a join after the end.
    create(S[0], H1, 0, guests=(G,))
    add(StreamStarted(live_stream_id=S[0], started_at=t(1)), 1)
    join(S[0], H1, Role.HOST, 2, "live-stream")
    join(S[0], G, Role.GUEST, 3, "stream-chat")
    join(S[0], F1, Role.AUDIENCE, 4)
    join(S[0], F1, Role.AUDIENCE, 5, "live-stream")
    join(S[0], F2, Role.AUDIENCE, 6, "stream-chat")
    add(StreamUpdated(live_stream_id=S[0], title="renamed", updated_at=t(7)), 7)
    add(StreamEnded(live_stream_id=S[0], ended_at=t(30)), 30)
    join(S[0], F3, Role.AUDIENCE, 31)  # accepted just before the end, appended after it
    # S1: ended, then deleted, then a late join.
    create(S[1], H1, 10)
    add(StreamStarted(live_stream_id=S[1], started_at=t(11)), 11)
    join(S[1], F1, Role.AUDIENCE, 12)
    add(StreamEnded(live_stream_id=S[1], ended_at=t(40)), 40)
    add(StreamDeleted(live_stream_id=S[1], deleted_at=t(41), deleted_by=H1), 41)
    join(S[1], F2, Role.AUDIENCE, 42)
    # S2: still live.
    create(S[2], H2, 20)
    add(StreamStarted(live_stream_id=S[2], started_at=t(21)), 21)
    join(S[2], F1, Role.AUDIENCE, 22)
    # S3..S7: ended streams for paging, S5 and S6 with the same endedAt (ties by id desc).
    for n, end in zip(range(3, 8), (50, 51, 52, 52, 53), strict=True):
        create(S[n], H2, 20 + n)
        add(StreamStarted(live_stream_id=S[n], started_at=t(25 + n)), 25 + n)
        join(S[n], F1, Role.AUDIENCE, 30 + n)
        join(S[n], G, Role.AUDIENCE, 30 + n)  # not a named guest there: audience
        add(StreamEnded(live_stream_id=S[n], ended_at=t(end)), end)
    return events


async def documents(store: MongoStore) -> tuple[dict[str, Any], dict[str, Any]]:
    def clean(doc: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in doc.items() if k != "position"}

    streams = {d["_id"]: clean(d) async for d in (await store.streams()).find({})}
    history = {d["_id"]: clean(d) async for d in (await store.history()).find({})}
    return streams, history


async def until_projected(store: MongoStore, model: MemoryModel, what: str) -> None:
    async def same() -> bool:
        return await documents(store) == (model.streams, model.history)

    await eventually(same, timeout=60, interval=0.2, what=what)


async def query_results(store: MongoStore) -> dict[str, Any]:
    out: dict[str, Any] = {
        "live": await q.whats_live_now(store, 1, 100),
        "live as F1": await q.whats_live_now(store, 1, 100, F1),
    }
    for user in USERS:
        for name, query in (("broadcasted", q.my_broadcasted), ("watched", q.my_watched)):
            out[f"{name} {user}"] = await query(store, user, 1, 100)
            out[f"{name} {user} p2"] = await query(store, user, 2, 2)
    for sid in S:
        out[f"stream {sid}"] = await q.get_stream(store, sid, F1)
    return out


@dataclass
class Deployment:
    settings: Settings
    store: MongoStore
    topic: str
    worker: ServiceProcess | None = None


async def deploy(settings: Settings) -> Deployment:
    names = TopicNames(settings.topic_prefix)
    await ensure_topics(
        settings.kafka_bootstrap_servers, deployment_topics(names), partitions=settings.topic_partitions
    )
    return Deployment(
        settings, MongoStore(settings.mongodb_uri, settings.mongodb_database), names.livestream_events
    )


async def produce(settings: Settings, topic: str, records: list[tuple[bytes, bytes]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap_servers, acks="all")
    await producer.start()
    try:
        for key, value in records:
            await producer.send_and_wait(topic, value, key=key)
    finally:
        await producer.stop()


async def read_log(settings: Settings, topic: str, count: int) -> list[tuple[bytes, bytes]]:
    """The records as Kafka stores them, from offset 0."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=settings.kafka_bootstrap_servers, auto_offset_reset="earliest", group_id=None
    )
    await consumer.start()
    out: list[tuple[bytes, bytes]] = []
    try:

        async def enough() -> bool:
            for records in (await consumer.getmany(timeout_ms=500)).values():
                out.extend((r.key, r.value) for r in records)
            return len(out) >= count

        await eventually(enough, timeout=30, what="the recorded log")
    finally:
        await consumer.stop()
    return out


@pytest.fixture(scope="module")
async def recorded(
    services: Any, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[tuple[Deployment, MemoryModel, Path]]:
    log_dir = tmp_path_factory.mktemp("livestream-projection")
    events = recorded_log()
    primary = await deploy(isolated_settings(services))
    await produce(primary.settings, primary.topic, [(e.key.encode(), encode(e)) for e in events])
    primary.worker = await start_worker(primary.settings, log_dir)
    model = MemoryModel().apply_all(events)
    await until_projected(primary.store, model, "the primary projection")
    yield primary, model, log_dir
    primary.worker.stop()
    await primary.store.client.drop_database(primary.settings.mongodb_database)
    await primary.store.close()


async def test_late_join_and_delete_after_end_through_the_pipeline(
    recorded: tuple[Deployment, MemoryModel, Path],
) -> None:
    deployment, _, _ = recorded
    store = deployment.store
    watched = {u: await q.my_watched(store, u, 1, 100) for u in (F1, F2, F3)}
    # F3 joined S0 after its end: listed, with the stream's endedAt.
    (late,) = watched[F3]["list"]
    assert (late["id"], late["role"]) == (S[0], "audience")
    assert late["endedAt"] == "2026-05-01T12:30:00.000Z"
    assert late["title"] == "renamed"
    # S1 was deleted after it ended: nobody lists it, the late joiner neither.
    assert S[1] not in [i["id"] for i in watched[F1]["list"]]
    assert [i["id"] for i in watched[F2]["list"]] == [S[0]]
    assert await q.get_stream(store, S[1]) is None
    # F1: ended and not deleted, newest endedAt first, ties by id desc; S2 is still live.
    assert [i["id"] for i in watched[F1]["list"]] == [S[7], S[6], S[5], S[4], S[3], S[0]]
    assert watched[F1]["pagination"]["totalItems"] == 6
    broadcasted_g = await q.my_broadcasted(store, G, 1, 100)
    assert [(i["id"], i["role"]) for i in broadcasted_g["list"]] == [(S[0], "guest")]
    assert len((await q.my_watched(store, G, 1, 100))["list"]) == 5
    host = await q.my_broadcasted(store, H2, 1, 2)
    assert [i["id"] for i in host["list"]] == [S[7], S[6]]
    assert host["pagination"]["totalPages"] == 3
    live = await q.whats_live_now(store, 1, 10)
    assert [i["id"] for i in live["list"]] == [S[2]]


async def test_every_event_twice_gives_identical_results(
    services: Any,
    recorded: tuple[Deployment, MemoryModel, Path],
) -> None:
    primary, model, log_dir = recorded
    records = await read_log(primary.settings, primary.topic, len(recorded_log()))
    twice = await deploy(isolated_settings(services))
    # the log, then the log again (a consumer that lost its offsets), then each record doubled
    await produce(twice.settings, twice.topic, records + records + [r for r in records for _ in (0, 1)])
    twice.worker = await start_worker(twice.settings, log_dir)
    try:
        await until_projected(twice.store, model, "the projection of the doubled log")
        assert await query_results(twice.store) == await query_results(primary.store)
    finally:
        twice.worker.stop()
        await twice.store.client.drop_database(twice.settings.mongodb_database)
        await twice.store.close()


async def test_a_replay_from_offset_zero_rebuilds_identical_results(
    recorded: tuple[Deployment, MemoryModel, Path],
) -> None:
    primary, model, log_dir = recorded
    # Same topics, a new consumer group (APP_ID) and an empty database: the read models dropped.
    settings = replace(primary.settings, app_id=unique("replay"), mongodb_database=unique("db_replay_"))
    replay = await deploy(settings)
    assert await documents(replay.store) == ({}, {})
    replay.worker = await start_worker(settings, log_dir)
    try:
        await until_projected(replay.store, model, "the replayed projection")
        assert await query_results(replay.store) == await query_results(primary.store)
    finally:
        replay.worker.stop()
        await replay.store.client.drop_database(settings.mongodb_database)
        await replay.store.close()
