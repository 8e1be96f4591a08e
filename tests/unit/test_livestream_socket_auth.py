"""Where a live-stream socket's JWT comes from, and how a joinStream payload is read."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.auth import socket_token
from gateway.realtime.livestream import NAMESPACES, room, stream_id_from
from streams.errors import ValidationError

pytestmark = pytest.mark.unit
SID = "65f000000000000000000001"


@pytest.mark.parametrize(
    ("auth", "environ", "expected"),
    [
        ({"token": "abc.def.ghi"}, {}, "abc.def.ghi"),
        ({"token": "Bearer abc.def.ghi"}, {}, "abc.def.ghi"),
        ({"token": "  abc.def.ghi  "}, {"HTTP_AUTHORIZATION": "Bearer other"}, "abc.def.ghi"),
        (None, {"HTTP_AUTHORIZATION": "Bearer abc.def.ghi"}, "abc.def.ghi"),
        ({}, {"HTTP_AUTHORIZATION": "bearer abc.def.ghi"}, "abc.def.ghi"),
        ({"token": ""}, {"HTTP_AUTHORIZATION": "Bearer x.y.z"}, "x.y.z"),
        # a header that is there but not Bearer is a bad credential (it fails verification)
        (None, {"HTTP_AUTHORIZATION": "Basic dXNlcjpwYXNz"}, ""),
        (None, {}, None),
        ({"token": 5}, {}, None),
        ("abc.def.ghi", {}, None),  # auth must be an object {token}
    ],
)
def test_socket_token(auth: Any, environ: dict[str, Any], expected: str | None) -> None:
    assert socket_token(auth, environ) == expected


def test_stream_id_from_a_payload() -> None:
    assert stream_id_from({"liveStreamId": SID.upper()}) == SID
    assert stream_id_from(SID) == SID
    for bad in (None, {}, {"liveStreamId": "x"}, ["65f000000000000000000001"], 5):
        with pytest.raises(ValidationError, match="liveStreamId"):
            stream_id_from(bad)


def test_namespaces_and_rooms() -> None:
    assert NAMESPACES == {"/live-stream": "live-stream", "/stream-chat": "stream-chat"}
    assert room(SID) == f"stream:{SID}"
