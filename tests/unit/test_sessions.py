"""Connection state recovery's bookkeeping (gateway/realtime/sessions.py): offsets and sessions."""

from __future__ import annotations

import pytest

from gateway.realtime.sessions import (
    MAX_RECOVERABLE_JOBS,
    Sessions,
    decode_offset,
    encode_offset,
    position,
)
from tests.clocks import FakeClock

JOB_A = "550e8400-e29b-41d4-a716-446655440000"
JOB_B = "6ba7b810-9dad-11d1-80b4-00c04fd430c8"


def test_an_offset_names_each_room_and_its_position_and_reads_back() -> None:
    seen = {JOB_A: position(3, 0), JOB_B: position(6, 1)}
    text = encode_offset(seen)
    assert text == f"1|{JOB_A}:6,{JOB_B}:13"
    assert decode_offset(text) == seen
    assert decode_offset("1|") == {}


@pytest.mark.parametrize(
    "text",
    [
        None,
        42,
        "",
        "2|a:1",
        "1",
        f"1|{JOB_A}",
        f"1|{JOB_A}:x",
        f"1|{JOB_A}:-1",
        "1|:3",
        "1|a b:1",
        "x" * 10_000,
    ],
)
def test_an_offset_we_did_not_write_is_no_offset(text: object) -> None:
    assert decode_offset(text) is None


def test_too_many_rooms_is_no_offset() -> None:
    many = {f"job{i}": 1 for i in range(MAX_RECOVERABLE_JOBS + 1)}
    assert decode_offset(encode_offset(many)) is None


def test_a_terminal_event_stands_after_its_last_progress() -> None:
    assert position(6, 0) < position(6, 1) < position(7, 0)


def test_a_new_connection_gets_a_pid_and_offsets_that_follow_what_it_was_sent() -> None:
    sessions = Sessions()
    assert sessions.open("s1", None) is None
    pid = sessions.pid("s1")
    assert pid is not None and len(pid) >= 16
    sessions.watch("s1", JOB_A, 0)
    assert sessions.advance("s1", JOB_A, 2) == f"1|{JOB_A}:2"
    sessions.watch("s1", JOB_B, 0)
    assert sessions.advance("s1", JOB_A, 4) == f"1|{JOB_B}:0,{JOB_A}:4"  # most recent last
    sessions.unwatch("s1", JOB_B)
    assert sessions.advance("s1", JOB_A, 5) == f"1|{JOB_A}:5"
    assert sessions.advance("unknown", JOB_A, 5) is None


def test_a_connection_that_asks_for_no_offsets_gets_none() -> None:
    sessions = Sessions()
    sessions.open("s1", {"recovery": False})
    sessions.watch("s1", JOB_A, 0)
    assert sessions.advance("s1", JOB_A, 2) is None


def test_on_another_gateway_the_offset_alone_restores_rooms_and_positions() -> None:
    sessions = Sessions()
    pid = "p" * 24
    restore = sessions.open("s2", {"pid": pid, "offset": f"1|{JOB_A}:7,{JOB_B}:13", "token": "x"})
    assert restore is not None and restore.replaces is None
    assert restore.rooms == {JOB_A: 7, JOB_B: 13}
    assert sessions.pid("s2") == pid  # the same pid: socket.recovered is true on the client
    assert sessions.take_restore("s2") == restore and sessions.take_restore("s2") is None


@pytest.mark.parametrize(
    "auth",
    [
        {"pid": "p" * 24},
        {"offset": f"1|{JOB_A}:3"},
        {"pid": "bad pid!", "offset": "1|"},
        {"pid": "p" * 24, "offset": 3},
    ],
)
def test_without_a_pid_and_an_offset_we_wrote_it_is_a_new_session(auth: dict[str, object]) -> None:
    sessions = Sessions()
    assert sessions.open("s", auth) is None
    assert sessions.pid("s") != auth.get("pid")


def test_on_the_same_gateway_a_parked_session_adds_rooms_the_offset_has_not_heard_of() -> None:
    clock = FakeClock(1000.0)
    sessions = Sessions(park_seconds=120, clock=clock)
    sessions.open("s1", None)
    pid = sessions.pid("s1")
    sessions.watch("s1", JOB_A, 0)
    offset = sessions.advance("s1", JOB_A, 6)
    sessions.watch("s1", JOB_B, 0)  # subscribed; its first event lost with the connection
    sessions.advance("s1", JOB_A, 8)  # sent, never arrived
    sessions.close("s1", park=True)
    clock.now += 60
    restore = sessions.open("s2", {"pid": pid, "offset": offset})
    assert restore is not None
    assert restore.rooms == {JOB_A: 6, JOB_B: 0}  # the client's positions; the gateway's rooms


def test_a_parked_session_ages_out_and_the_offset_still_recovers() -> None:
    clock = FakeClock(1000.0)
    sessions = Sessions(park_seconds=120, clock=clock)
    sessions.open("s1", None)
    pid = sessions.pid("s1")
    sessions.watch("s1", JOB_A, 0)
    offset = sessions.advance("s1", JOB_A, 6)
    sessions.watch("s1", JOB_B, 0)
    sessions.close("s1", park=True)
    clock.now += 121
    restore = sessions.open("s2", {"pid": pid, "offset": offset})
    assert restore is not None and restore.rooms == {JOB_A: 6}


def test_a_session_closed_by_the_server_is_not_parked() -> None:
    sessions = Sessions()
    sessions.open("s1", None)
    pid = sessions.pid("s1")
    sessions.watch("s1", JOB_B, 0)
    offset = sessions.advance("s1", JOB_B, 2)
    sessions.watch("s1", JOB_A, 0)
    sessions.close("s1", park=False)
    restore = sessions.open("s2", {"pid": pid, "offset": offset})
    assert restore is not None and restore.rooms == {JOB_B: 2}


def test_a_connection_still_open_here_is_replaced_by_its_recovery() -> None:
    """A dropped polling transport is noticed only at the ping timeout: the old connection is
    still here when the client comes back, and its rooms are the gateway's truth."""
    sessions = Sessions()
    sessions.open("old", None)
    pid = sessions.pid("old")
    sessions.watch("old", JOB_A, 0)
    offset = sessions.advance("old", JOB_A, 4)
    sessions.watch("old", JOB_B, 0)
    restore = sessions.open("new", {"pid": pid, "offset": offset})
    assert restore is not None and restore.replaces == "old"
    assert restore.rooms == {JOB_A: 4, JOB_B: 0}
    sessions.close("old", park=False)  # the server disconnects it
    assert sessions.pid("new") == pid
    sessions.close("new", park=True)
    assert sessions.open("newer", {"pid": pid, "offset": offset}) is not None


def test_a_session_keeps_its_most_recent_rooms_only() -> None:
    sessions = Sessions()
    sessions.open("s", None)
    for i in range(MAX_RECOVERABLE_JOBS + 5):
        sessions.watch("s", f"job{i}", 0)
    offset = sessions.advance("s", "job0", 2)  # job0 comes back as the most recent
    assert offset is not None
    rooms = decode_offset(offset)
    assert rooms is not None and len(rooms) == MAX_RECOVERABLE_JOBS
    assert "job0" in rooms and "job1" not in rooms
