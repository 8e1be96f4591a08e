"""Two writers of one stream's participations (a partition owned twice for a moment during a
rebalance) cannot undo each other: fact copies are monotone, and a participation replace is
compare-and-set on the facts as well as on its position."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from projections import livestream_history as history
from projections.fold import Documents
from projections.livestream import LivestreamFold, copy_facts
from projections.store import MongoStore
from streams.consume import RecordMeta, Rejected
from streams.errors import WriteConflictError
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

pytestmark = [pytest.mark.integration, pytest.mark.both_mongo_servers]
T0 = datetime(2026, 7, 1, tzinfo=UTC)
SID, HOST, VIEWER = "65f0000000000000000000f1", "65f0000000000000000000f2", "65f0000000000000000000f3"


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def log() -> list[Envelope]:
    ids = iter(f"w-{n}" for n in range(100))
    data: list[Any] = [
        StreamCreated(
            live_stream_id=SID,
            title="t",
            live_stream_type="solo",
            channel_name="c",
            creator=UserProfile(id=HOST),
            created_at=at(0),
        ),
        StreamStarted(live_stream_id=SID, started_at=at(1)),
        ParticipantJoined(
            live_stream_id=SID, user_id=VIEWER, role=Role.AUDIENCE, channel="rest", joined_at=at(2)
        ),
        StreamEnded(live_stream_id=SID, ended_at=at(30)),
        StreamDeleted(live_stream_id=SID, deleted_by=HOST, deleted_at=at(40)),
    ]
    return [new_event(d, key=SID, ids=lambda: next(ids), clock=lambda d=d: T0) for d in data]


def batch(events: list[Envelope]) -> list[tuple[Envelope, RecordMeta]]:
    return [
        (e, RecordMeta(topic="ls", partition=0, offset=i, key=SID.encode())) for i, e in enumerate(events)
    ]


async def no_rejects(rejected: Rejected) -> None:
    assert rejected == []


async def participation(store: MongoStore) -> dict[str, Any]:
    doc = await (await store.history()).find_one({"_id": history.history_id(VIEWER, SID)})
    assert doc is not None
    return doc


async def test_a_late_copy_of_older_facts_does_not_undo_a_delete(store: MongoStore) -> None:
    await LivestreamFold(store)(batch(log()), no_rejects)  # ended, then deleted
    assert (await participation(store))["deleted"] is True
    stale = history.facts({"status": "ended", "endedAt": at(30), "deleted": False})
    assert stale == {"endedAt": at(30), "deleted": False, "visible": True}
    await copy_facts(await store.history(), {SID: stale})  # the writer that lost the race
    doc = await participation(store)
    assert (doc["deleted"], doc["visible"], doc["endedAt"]) == (True, False, at(30))
    assert history.joined_facts(doc, stale) == {"endedAt": at(30), "deleted": True, "visible": False}


async def test_a_participation_replace_fails_when_its_facts_changed_meanwhile(
    store: MongoStore,
) -> None:
    await LivestreamFold(store)(batch(log()[:4]), no_rejects)  # ended, not deleted yet
    docs = Documents(await store.history(), cas=("position", *history.FACTS_CAS))
    key = history.history_id(VIEWER, SID)
    await docs.load([key])
    read = docs.get(key)
    assert read is not None and read["visible"] is True
    # another writer copies the delete in, which moves no position
    await copy_facts(await store.history(), {SID: {"endedAt": at(30), "deleted": True, "visible": False}})
    docs.put(key, {**read, "channels": ["rest", "stream-chat"]})  # built on the stale read
    with pytest.raises(WriteConflictError):
        await docs.write()
    assert (await participation(store))["deleted"] is True
