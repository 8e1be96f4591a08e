"""The live-stream projection is a pure fold: idempotent, order-safe, replayable, and right when a
join arrives after the end or a delete after the end."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from projections import livestream_history as history
from projections import livestream_streams as streams
from projections.livestream import plan
from projections.livestream_queries import pagination
from streams.errors import AppError
from streams.events import Envelope, new_event
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
from tests.livestream_model import MemoryModel

pytestmark = pytest.mark.unit
T0 = datetime(2026, 5, 1, 11, 50, tzinfo=UTC)
S1 = "65f000000000000000000001"
HOST = "65f000000000000000000010"
GUEST = "65f000000000000000000011"
FAN = "65f000000000000000000020"
FAN2 = "65f000000000000000000021"
_ids = iter(range(1, 1_000_000))


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def ev(data: Any, minutes: float = 0, key: str = S1) -> Envelope:
    return new_event(data, key=key, clock=lambda: at(minutes), ids=lambda: f"e{next(_ids):06d}")


def created(stream: str = S1, minutes: float = 0, guests: list[str] | None = None) -> Envelope:
    return ev(
        StreamCreated(
            live_stream_id=stream,
            title="Yayin basligi",
            live_stream_type="solo",
            channel_name="channel-name",
            interest="music",
            guests=guests or [],
            creator=UserProfile(id=HOST, username="creator", name="Creator", surname="User"),
            created_at=at(minutes),
        ),
        minutes,
        key=stream,
    )


def started(stream: str = S1, minutes: float = 10) -> Envelope:
    return ev(StreamStarted(live_stream_id=stream, started_at=at(minutes)), minutes, key=stream)


def ended(stream: str = S1, minutes: float = 40) -> Envelope:
    return ev(StreamEnded(live_stream_id=stream, ended_at=at(minutes)), minutes, key=stream)


def deleted(stream: str = S1, minutes: float = 50) -> Envelope:
    return ev(
        StreamDeleted(live_stream_id=stream, deleted_at=at(minutes), deleted_by=HOST), minutes, key=stream
    )


def joined(
    user: str, role: Role = Role.AUDIENCE, minutes: float = 20, stream: str = S1, channel: str = "rest"
) -> Envelope:
    return ev(
        ParticipantJoined(
            live_stream_id=stream, user_id=user, role=role, channel=channel, joined_at=at(minutes)
        ),
        minutes,
        key=stream,
    )


def lifecycle() -> list[Envelope]:
    return [
        created(guests=[GUEST]),
        started(),
        joined(HOST, Role.HOST, 11, channel="live-stream"),
        joined(GUEST, Role.GUEST, 12, channel="stream-chat"),
        joined(FAN, minutes=13),
        joined(FAN, minutes=25, channel="live-stream"),
        ev(
            StreamUpdated(
                live_stream_id=S1, title="Yeni baslik", recording_url="https://r/1", updated_at=at(30)
            ),
            30,
        ),
        ended(),
    ]


def fold(events: list[Envelope]) -> MemoryModel:
    return MemoryModel().apply_all(events)


def state(model: MemoryModel) -> tuple[dict[str, Any], dict[str, Any]]:
    return model.streams, model.history


def test_the_fold_builds_the_stream_and_one_participation_per_user() -> None:
    model = fold(lifecycle())
    doc = model.streams[S1]
    assert (doc["status"], doc["startedAt"], doc["endedAt"]) == ("ended", at(10), at(40))
    assert doc["updatedAt"] == at(40)
    assert doc["title"] == "Yeni baslik"
    assert doc["recordingUrl"] == "https://r/1"
    assert doc["broadcasters"] == [GUEST]
    assert sorted(model.history) == sorted(f"{u}:{S1}" for u in (HOST, GUEST, FAN))
    fan = model.history[f"{FAN}:{S1}"]
    assert (fan["role"], fan["bucket"], fan["visible"]) == ("audience", "watched", True)
    assert (fan["firstJoinedAt"], fan["endedAt"]) == (at(13), at(40))
    assert fan["channels"] == ["live-stream", "rest"]
    assert model.history[f"{GUEST}:{S1}"]["bucket"] == "broadcasted"
    assert model.history[f"{HOST}:{S1}"]["role"] == "host"


def test_dto_has_every_field_of_the_seed_example_plus_role() -> None:
    dto = streams.to_dto(fold(lifecycle()).streams[S1], "host")
    seed_fields = [
        "id",
        "title",
        "liveStreamType",
        "channelName",
        "broadcasters",
        "guests",
        "creator",
        "thumbnailUrl",
        "recording",
        "recordingUrl",
        "status",
        "accessType",
        "price",
        "interest",
        "durationGoal",
        "motivation",
        "isActiveReplayOnCreatorProfile",
        "replayCreditPrice",
        "startedAt",
        "plannedStartDate",
        "endedAt",
        "plannedEndDate",
        "createdAt",
        "updatedAt",
        "fundingGoal",
        "collectedFunding",
        "fundingPercentage",
        "role",
        "miniCrowdFundings",
    ]
    assert list(dto) == seed_fields
    assert dto["creator"] == {
        "_id": HOST,
        "username": "creator",
        "name": "Creator",
        "surname": "User",
        "profilePhoto": None,
    }
    assert dto["startedAt"] == "2026-05-01T12:00:00.000Z"
    assert dto["endedAt"] == "2026-05-01T12:30:00.000Z"
    assert dto["price"] == 0 and isinstance(dto["price"], int)
    assert dto["miniCrowdFundings"] == [] and dto["role"] == "host"


@pytest.mark.parametrize("times", [2, 5])
def test_every_event_n_times_in_a_row_gives_the_same_documents(times: int) -> None:
    events = lifecycle()
    assert state(fold([e for e in events for _ in range(times)])) == state(fold(events))


def test_the_whole_log_redelivered_gives_the_same_documents() -> None:
    events = lifecycle()
    assert state(fold(events + events + events)) == state(fold(events))


@pytest.mark.parametrize("seed", range(25))
def test_any_order_with_duplicates_gives_the_same_documents(seed: int) -> None:
    rng = random.Random(seed)
    events = lifecycle() + [deleted()]
    shuffled = events + rng.sample(events, k=4)
    rng.shuffle(shuffled)
    assert state(fold(shuffled)) == state(fold(events))


def test_a_join_after_the_end_is_listed_with_the_streams_end() -> None:
    model = fold([created(), started(), ended(), joined(FAN, minutes=45)])
    doc = model.history[f"{FAN}:{S1}"]
    assert (doc["visible"], doc["endedAt"], doc["role"]) == (True, at(40), "audience")


def test_a_delete_after_the_end_hides_every_participation() -> None:
    model = fold([created(), started(), joined(FAN), joined(FAN2), ended()])
    assert all(d["visible"] for d in model.history.values())
    model.apply(deleted())
    assert not any(d["visible"] for d in model.history.values())
    assert all(d["deleted"] for d in model.history.values())
    assert model.streams[S1]["status"] == "ended" and model.streams[S1]["deleted"] is True
    model.apply(joined("65f0000000000000000000ff", minutes=55))  # a late join stays hidden
    assert model.history[f"65f0000000000000000000ff:{S1}"]["visible"] is False


def test_not_ended_streams_are_not_visible_and_the_creator_is_the_host() -> None:
    model = fold([created(), started(), joined(FAN)])
    assert not any(d["visible"] for d in model.history.values())
    host = model.history[f"{HOST}:{S1}"]
    assert (host["role"], host["bucket"], host["firstJoinedAt"]) == ("host", "broadcasted", at(0))


def test_the_best_role_wins_whatever_the_order() -> None:
    a = fold([created(), joined(GUEST, Role.AUDIENCE, 11), joined(GUEST, Role.GUEST, 12)])
    b = fold([created(), joined(GUEST, Role.GUEST, 12), joined(GUEST, Role.AUDIENCE, 11)])
    assert a.history == b.history
    assert a.history[f"{GUEST}:{S1}"]["bucket"] == "broadcasted"


def test_lifecycle_moves_one_way_and_the_first_time_wins() -> None:
    model = fold([created(), started(minutes=10), ended(minutes=40), started(minutes=60), ended(minutes=70)])
    doc = model.streams[S1]
    assert (doc["status"], doc["startedAt"], doc["endedAt"]) == ("ended", at(10), at(40))


def test_a_planned_stream_is_scheduled_then_live() -> None:
    planned = ev(
        StreamCreated(
            live_stream_id=S1,
            title="t",
            live_stream_type="duoself",
            channel_name="c",
            creator=UserProfile(id=HOST),
            planned_start_date=at(60),
            created_at=at(0),
        ),
        0,
    )
    assert fold([planned]).streams[S1]["status"] == "scheduled"
    assert fold([planned, started()]).streams[S1]["status"] == "live"


def test_a_duplicate_changes_nothing_so_the_plan_writes_nothing() -> None:
    model = fold(lifecycle())
    event = lifecycle()[4]
    part = model.history[history.history_id(FAN, S1)]
    todo = plan(event, model.streams[S1], part)
    assert todo is not None and todo.stream is None and todo.participation is None
    assert todo.sync is None


def test_ended_and_deleted_plans_always_resync_participations() -> None:
    model = fold(lifecycle())
    todo = plan(lifecycle()[-1], model.streams[S1], None)
    assert todo is not None and todo.sync == {"endedAt": at(40), "deleted": False, "visible": True}


def test_other_topics_events_are_ignored_and_a_wrong_key_is_rejected() -> None:
    model = fold([created()])
    before = state(model)
    wrong = ev(StreamStarted(live_stream_id=S1, started_at=at(1)), 1, key=FAN2)
    with pytest.raises(AppError) as info:
        model.apply(wrong)
    assert info.value.code == "INVALID_EVENT" and not info.value.retryable
    assert state(model) == before


def test_the_fold_reads_no_clock() -> None:
    """Replaying the same events later gives the same documents (times come from events)."""
    events = lifecycle()
    first = state(fold(events))
    assert state(fold(list(events))) == first
    assert all(isinstance(d["updatedAt"], datetime) for d in first[0].values())


@pytest.mark.parametrize(
    ("page", "limit", "total", "expected"),
    [
        (1, 10, 0, (0, False, False)),
        (1, 10, 1, (1, False, False)),
        (1, 5, 10, (2, True, False)),
        (2, 5, 10, (2, False, True)),
        (3, 5, 10, (2, False, True)),
        (2, 3, 7, (3, True, True)),
    ],
)
def test_pagination(page: int, limit: int, total: int, expected: tuple[int, bool, bool]) -> None:
    p = pagination(page, limit, total)
    assert (p["totalPages"], p["hasNextPage"], p["hasPrevPage"]) == expected
    assert (p["currentPage"], p["itemsPerPage"], p["totalItems"]) == (page, limit, total)
