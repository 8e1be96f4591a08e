"""Exactly-once effect across a crash: the worker is SIGKILLed after a projection batch was
written and before its offsets were committed; after a restart the read models equal a
rebuild from the log (`rebuild --verify`) and the pure fold of the log."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from projections.replay.verify import group_offsets
from projections.store import MongoStore
from runtime.worker import CRASH_AFTER_WRITE_ENV
from streams.events import Envelope, new_event
from streams.events.livestream import (
    ParticipantJoined,
    Role,
    StreamCreated,
    StreamDeleted,
    StreamEnded,
    StreamStarted,
    UserProfile,
)
from streams.settings import Settings
from streams.topics import TopicNames
from tests.integration.replay_cli import cli, produce, wire
from tests.livestream_model import MemoryModel
from tests.support import ServiceProcess, eventually, start_worker

# The crash window is read off partition 0's committed offset and the positions written.
pytestmark = [pytest.mark.integration, pytest.mark.both_mongo_servers, pytest.mark.single_partition]
T0 = datetime(2026, 6, 1, tzinfo=UTC)
BATCH = 25


def oid(n: int, kind: int) -> str:
    return f"{kind:08x}{n:016x}"


def busy_log(streams: int = 12, viewers: int = 20) -> list[Envelope]:
    """Streams with hosts, guests and viewers (some joining twice, one after the end), ended,
    some deleted: every kind of write the projection does."""
    ids = iter(f"evt-{n:05d}" for n in range(100_000))
    events: list[Envelope] = []

    def add(data: Any, minute: float) -> None:
        at = T0 + timedelta(minutes=minute)
        events.append(new_event(data, key=data.live_stream_id, ids=lambda: next(ids), clock=lambda: at))

    for s in range(streams):
        sid, host, guest = oid(s, 0xA0), oid(s % 3, 0xB0), oid(s % 4, 0xB1)
        add(
            StreamCreated(
                live_stream_id=sid,
                title=f"s{s}",
                live_stream_type="solo",
                channel_name="c",
                creator=UserProfile(id=host),
                guests=[guest],
                created_at=T0,
            ),
            s,
        )
        add(StreamStarted(live_stream_id=sid, started_at=T0 + timedelta(minutes=s + 1)), s + 1)
        add(
            ParticipantJoined(
                live_stream_id=sid,
                user_id=guest,
                role=Role.GUEST,
                channel="rest",
                joined_at=T0 + timedelta(minutes=s + 1),
            ),
            s + 1,
        )
        for v in range(viewers):
            viewer = oid((s * 7 + v) % 50, 0xC0)
            for _ in range(1 + v % 2):  # every other viewer joins twice
                add(
                    ParticipantJoined(
                        live_stream_id=sid,
                        user_id=viewer,
                        role=Role.AUDIENCE,
                        channel="rest",
                        joined_at=T0 + timedelta(minutes=s + 2),
                    ),
                    s + 2,
                )
        add(StreamEnded(live_stream_id=sid, ended_at=T0 + timedelta(minutes=s + 30)), s + 30)
        add(
            ParticipantJoined(
                live_stream_id=sid,
                user_id=oid(99, 0xC0),
                role=Role.AUDIENCE,
                channel="rest",
                joined_at=T0 + timedelta(minutes=s + 31),
            ),
            s + 31,
        )
        if s % 4 == 0:
            add(
                StreamDeleted(live_stream_id=sid, deleted_by=host, deleted_at=T0 + timedelta(minutes=s + 40)),
                s + 40,
            )
    return events


async def stored(store: MongoStore) -> tuple[dict[str, Any], dict[str, Any]]:
    def clean(doc: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in doc.items() if k != "position"}

    streams = {d["_id"]: d async for d in (await store.streams()).find({})}
    history = {d["_id"]: d async for d in (await store.history()).find({})}
    return ({k: clean(d) for k, d in streams.items()}, {k: clean(d) for k, d in history.items()})


async def highest_position(store: MongoStore) -> int:
    offsets = [-1]
    for coll in (await store.streams(), await store.history()):
        offsets += [d["position"]["offset"] async for d in coll.find({}, {"position": 1})]
    return max(offsets)


async def test_a_worker_killed_between_write_and_commit_loses_and_repeats_nothing(
    settings: Settings, topics: TopicNames, store: MongoStore, log_dir: Path
) -> None:
    settings = replace(settings, projection_batch_max=BATCH)
    events = busy_log()
    await produce(settings.kafka_bootstrap_servers, topics.livestream_events, wire(events))

    doomed = ServiceProcess(
        "worker-doomed",
        ["-m", "runtime", "worker"],
        settings,
        log_dir,
        env={CRASH_AFTER_WRITE_ENV: "project-livestream:4"},
    ).start()
    assert doomed.proc is not None
    await eventually(
        lambda: doomed.proc.poll() is not None,
        timeout=90,
        what="the worker killing itself after its 4th livestream batch",
    )
    doomed.stop()  # reaps it
    assert doomed.proc.poll() == -9, doomed.log()[-3000:]
    assert "killing the worker after a batch write" in doomed.log()

    # The crash window was hit: the database holds effects of records the group never committed.
    group = settings.topic_prefix + settings.app_id
    committed = (
        await group_offsets(settings.kafka_bootstrap_servers, group, topics.livestream_events) or {}
    ).get(0, 0)
    written = await highest_position(store)
    assert written >= committed, (written, committed)
    # Four batches were written; a batch holds up to BATCH records, fewer when fewer had arrived
    # within PROJECTION_BATCH_SECONDS (seen on a busy machine: 73 records in four batches).
    assert written >= 4 - 1, written

    worker = await start_worker(settings, log_dir)
    try:
        model = MemoryModel().apply_all(events)

        async def caught_up() -> bool:
            return await stored(store) == (model.streams, model.history)

        await eventually(caught_up, timeout=90, what="the restarted worker's read models")
        result = await cli(settings, "rebuild", "livestream", "--into", "after_crash", "--verify")
        assert result.code == 0, result.out + result.err
        assert result.out.count("no differences") == 2, result.out
    finally:
        worker.stop()
