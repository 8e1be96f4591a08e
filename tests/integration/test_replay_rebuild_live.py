"""`rebuild` while the log moves: records appended during the rebuild and the switch end up in the
new collection (catch-up), and the two-collection live-stream projection switches both."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from projections import aliases
from projections import livestream_queries as q
from projections.store import HISTORY, STREAMS, MongoStore
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
from tests.integration.replay_cli import cli, documents, job_story, produce, wire
from tests.livestream_model import MemoryModel
from tests.support import eventually, start_worker

pytestmark = [pytest.mark.integration, pytest.mark.both_mongo_servers]
T0 = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


async def test_records_appended_during_the_rebuild_reach_the_new_collection(
    settings: Settings, topics: TopicNames, store: MongoStore, log_dir: Path
) -> None:
    worker = await start_worker(settings, log_dir)
    try:
        await produce(
            settings.kafka_bootstrap_servers,
            topics.job_events,
            wire([e for i in range(20) for e in job_story(f"base-{i}")]),
        )

        async def traffic() -> None:  # ~6 s of steady appends, each job's steps in order
            for i in range(60):
                await produce(
                    settings.kafka_bootstrap_servers,
                    topics.job_events,
                    wire(job_story(f"live-{i // 4}")[i % 4 : i % 4 + 1]),
                )
                await asyncio.sleep(0.1)

        writer = asyncio.create_task(traffic())
        await asyncio.sleep(0.5)
        result = await cli(settings, "rebuild", "jobs")
        await writer
        assert result.code == 0, result.out + result.err
        new = (await aliases.current(store, "jobs")).collection
        assert new.startswith("jobs__v")

        # Once the worker has it all, a full rebuild into a scratch collection (no switch) must
        # equal the switched one: nothing the worker wrote around the switch was lost.
        async def worker_done() -> bool:
            docs = await documents(store, new)
            return all(docs.get(f"live-{j}", {}).get("sequence") == 4 for j in range(15))

        await eventually(worker_done, timeout=60, what="the live jobs in the new collection")
        check = await cli(settings, "rebuild", "jobs", "--into", "jobs_check", "--verify")
        assert check.code == 0, check.out + check.err
        assert "35 documents, no differences" in check.out, check.out
        assert (await aliases.current(store, "jobs")).collection == new  # --into switched nothing
    finally:
        worker.stop()


def stream_log() -> list[Envelope]:
    ids = iter(f"evt-{n:03d}" for n in range(1000))
    events: list[Envelope] = []

    def add(data: Any, minute: int) -> None:
        events.append(
            new_event(
                data,
                key=data.live_stream_id,
                ids=lambda: next(ids),
                clock=lambda: T0 + timedelta(minutes=minute),
            )
        )

    for n, sid in enumerate(("65f0000000000000000000a1", "65f0000000000000000000a2")):
        add(
            StreamCreated(
                live_stream_id=sid,
                title=f"s{n}",
                live_stream_type="solo",
                channel_name="c",
                creator=UserProfile(id="65f0000000000000000000b1"),
                created_at=T0,
            ),
            0,
        )
        add(StreamStarted(live_stream_id=sid, started_at=T0 + timedelta(minutes=1)), 1)
        add(
            ParticipantJoined(
                live_stream_id=sid,
                user_id="65f0000000000000000000c1",
                role=Role.AUDIENCE,
                channel="rest",
                joined_at=T0 + timedelta(minutes=2),
            ),
            2,
        )
        add(StreamEnded(live_stream_id=sid, ended_at=T0 + timedelta(minutes=30 + n)), 30 + n)
    add(
        StreamDeleted(
            live_stream_id="65f0000000000000000000a2",
            deleted_by="65f0000000000000000000b1",
            deleted_at=T0 + timedelta(minutes=40),
        ),
        40,
    )
    return events


async def test_rebuild_livestream_switches_both_collections(
    settings: Settings, topics: TopicNames, store: MongoStore
) -> None:
    events = stream_log()
    await produce(settings.kafka_bootstrap_servers, topics.livestream_events, wire(events))
    result = await cli(settings, "rebuild", "livestream", "--drop-old")
    assert result.code == 0, result.out + result.err
    model = MemoryModel().apply_all(events)
    streams = (await aliases.current(store, STREAMS)).collection
    history = (await aliases.current(store, HISTORY)).collection
    assert streams.startswith("live_streams__v") and history.startswith("stream_history__v")
    assert streams.split("__v")[1] == history.split("__v")[1]  # one rebuild, one version
    got = {
        k: {f: v for f, v in d.items() if f != "position"}
        for k, d in (await documents(store, streams)).items()
    }
    assert got == model.streams
    assert {
        k: {f: v for f, v in d.items() if f != "position"}
        for k, d in (await documents(store, history)).items()
    } == model.history
    # the queries read through the aliases, with the indexes the rebuild created
    watched = await q.my_watched(store, "65f0000000000000000000c1", 1, 10)
    assert [item["id"] for item in watched["list"]] == ["65f0000000000000000000a1"]
    names = [ix["name"] async for ix in await store.db[history].list_indexes()]
    assert "user_bucket_visible_endedAt" in names
