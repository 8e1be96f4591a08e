"""Live-stream command rules: create-body validation, roles, and who may start/end/delete/join."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, get_args

import pytest

from streams.errors import AppError, ErrorCode, ValidationError
from streams.events.livestream import AccessType, Role, StreamStatus, StreamType, StreamView, UserProfile
from streams.livestream import commands

pytestmark = pytest.mark.unit
NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
SID = "65f000000000000000000001"
HOST = "65f000000000000000000010"
GUEST = "65f000000000000000000011"
OTHER = "65f000000000000000000099"
CREATOR = UserProfile(id=HOST, username="creator")


def create(body: dict[str, Any]) -> Any:
    return commands.validate_create(body, live_stream_id=SID, creator=CREATOR, now=NOW)


def problems(body: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(ValidationError) as info:
        create(body)
    assert info.value.code is ErrorCode.VALIDATION_ERROR
    assert info.value.http_status == 400
    fields = info.value.details["fields"]
    assert isinstance(fields, dict)
    return fields


MINIMAL = {"title": "  Yayin  ", "liveStreamType": "solo", "channelName": "channel-name"}


def test_a_minimal_body_gets_the_defaults() -> None:
    event = create(MINIMAL)
    assert (event.title, event.access_type, event.price) == ("Yayin", "free", 0)
    assert event.recording is False
    assert event.guests == [] and event.created_at == NOW and event.creator.id == HOST


def test_a_full_body() -> None:
    event = create(
        {
            **MINIMAL,
            "accessType": "paid",
            "price": 9.5,
            "interest": "music",
            "guests": [GUEST.upper(), GUEST, OTHER],
            "plannedStartDate": "2026-05-02T10:00:00+03:00",
            "plannedEndDate": "2026-05-02T08:00:00.000Z",
            "durationGoal": 60,
            "motivation": "m",
            "thumbnailUrl": "https://cdn.example.com/t.png",
            "recording": True,
        }
    )
    assert event.guests == [GUEST, OTHER]  # lower-cased and deduplicated, order kept
    assert event.planned_start_date == datetime(2026, 5, 2, 7, 0, tzinfo=UTC)
    assert (event.price, event.duration_goal, event.recording) == (9.5, 60, True)


def test_every_problem_is_reported_at_once() -> None:
    fields = problems(
        {
            "liveStreamType": "trio",
            "accessType": "paid",
            "price": 0,
            "guests": ["nope"],
            "plannedStartDate": "2026-05-02T10:00:00Z",
            "plannedEndDate": "2026-05-02T09:00:00Z",
            "durationGoal": -1,
            "thumbnailUrl": "ftp://x/y",
            "recording": "yes",
            "colour": "red",
        }
    )
    assert set(fields) == {
        "title",
        "liveStreamType",
        "channelName",
        "price",
        "guests",
        "plannedEndDate",
        "durationGoal",
        "thumbnailUrl",
        "recording",
        "colour",
    }


@pytest.mark.parametrize(
    ("patch", "field"),
    [
        ({"title": ""}, "title"),
        ({"title": "   "}, "title"),
        ({"title": "x" * 201}, "title"),
        ({"title": 5}, "title"),
        ({"channelName": None}, "channelName"),
        ({"liveStreamType": None}, "liveStreamType"),
        ({"accessType": "vip"}, "accessType"),
        ({"price": -1}, "price"),
        ({"price": True}, "price"),
        ({"price": "5"}, "price"),
        ({"price": 5}, "price"),  # a free stream costs nothing
        ({"accessType": "paid"}, "price"),  # a paid stream costs something
        ({"guests": "65f000000000000000000011"}, "guests"),
        ({"guests": [HOST]}, "guests"),
        ({"guests": [f"65f0000000000000000001{i:02d}" for i in range(21)]}, "guests"),
        ({"plannedStartDate": "2026-05-02 10:00"}, "plannedStartDate"),
        ({"plannedEndDate": "tomorrow"}, "plannedEndDate"),
        ({"durationGoal": 1.5}, "durationGoal"),
        ({"durationGoal": True}, "durationGoal"),
        ({"thumbnailUrl": "javascript:alert(1)"}, "thumbnailUrl"),
        ({"thumbnailUrl": "https://"}, "thumbnailUrl"),
        ({"recording": 1}, "recording"),
        ({"id": SID}, "id"),
    ],
)
def test_one_bad_field_is_named(patch: dict[str, Any], field: str) -> None:
    assert set(problems({**MINIMAL, **patch})) == {field}


def test_duplicate_guests_count_once_toward_the_limit() -> None:
    assert len(create({**MINIMAL, "guests": [GUEST] * 50}).guests) == 1


def test_object_ids() -> None:
    assert commands.is_object_id(SID) and commands.is_object_id(SID.upper())
    for bad in ("", "65f00000000000000000001", "65f0000000000000000000011", "g" * 24, None, 5):
        assert not commands.is_object_id(bad)
    assert commands.parse_object_id(SID.upper(), "id") == SID
    with pytest.raises(ValidationError, match="liveStreamId"):
        commands.parse_object_id("abc", "liveStreamId")


STREAM = StreamView(id=SID, status=StreamStatus.LIVE, deleted=False, creator_id=HOST, guests=(GUEST,))


def test_roles() -> None:
    assert STREAM.role_for(HOST) is Role.HOST
    assert STREAM.role_for(GUEST) is Role.GUEST
    assert STREAM.role_for(OTHER) is Role.AUDIENCE
    assert replace(STREAM, creator_id=None).role_for(HOST) is Role.AUDIENCE


def test_choices_are_the_event_types_own() -> None:
    assert commands.STREAM_TYPES == get_args(StreamType) == ("solo", "duoself", "duocrowd")
    assert commands.ACCESS_TYPES == get_args(AccessType) == ("free", "paid")


def code_of(call: Any, *args: Any) -> str | None:
    try:
        call(*args)
    except AppError as exc:
        return exc.code.value
    return None


@pytest.mark.parametrize(
    ("status", "deleted", "user", "start", "end", "delete", "join"),
    [
        ("created", False, HOST, None, "CONFLICT", None, None),
        ("scheduled", False, HOST, None, "CONFLICT", None, None),
        ("live", False, HOST, "CONFLICT", None, None, None),
        ("ended", False, HOST, "CONFLICT", "CONFLICT", None, "CONFLICT"),
        ("live", False, GUEST, "FORBIDDEN", "FORBIDDEN", "FORBIDDEN", None),
        ("live", False, OTHER, "FORBIDDEN", "FORBIDDEN", "FORBIDDEN", None),
        ("ended", True, HOST, "CONFLICT", "CONFLICT", "CONFLICT", "CONFLICT"),
        ("live", True, OTHER, "CONFLICT", "CONFLICT", "CONFLICT", "CONFLICT"),
    ],
)
def test_transitions(
    status: str,
    deleted: bool,
    user: str,
    start: str | None,
    end: str | None,
    delete: str | None,
    join: str | None,
) -> None:
    stream = replace(STREAM, status=StreamStatus(status), deleted=deleted)
    assert code_of(commands.check_start, stream, user, SID) == start
    assert code_of(commands.check_end, stream, user, SID) == end
    assert code_of(commands.check_delete, stream, user, SID) == delete
    assert code_of(commands.check_join, stream, SID) == join


def test_an_unknown_stream_is_stream_not_found() -> None:
    for check in (commands.check_start, commands.check_end, commands.check_delete):
        assert code_of(check, None, HOST, SID) == "STREAM_NOT_FOUND"
    assert code_of(commands.check_join, None, SID) == "STREAM_NOT_FOUND"
