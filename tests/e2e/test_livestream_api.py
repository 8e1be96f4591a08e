"""The live-stream REST commands through the real gateway and worker: transitions, who may do
what, validation, route order, and every bad credential a 401 (never a 500)."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import jwt
import pytest
from aiohttp.test_utils import TestClient, TestServer
from bson import ObjectId
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from gateway.app import create_app
from tests.e2e.test_livestream_history import LiveStreamApi, livestream_stack, new_user
from tests.support import isolated_settings

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
async def api(services: Any, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[LiveStreamApi]:
    async with livestream_stack(services, tmp_path_factory.mktemp("livestream-api")) as (stack, _):
        yield stack


async def test_the_lifecycle_and_who_may_change_it(api: LiveStreamApi) -> None:
    host, guest, other = new_user(), new_user(), new_user()
    created = await api.create(host, guests=[guest], plannedStartDate="2030-01-01T10:00:00Z")
    stream_id = created["id"]
    assert (created["status"], created["role"], created["guests"]) == ("scheduled", "host", [guest])
    assert created["creator"] == {
        "_id": host,
        "username": f"u{host[-4:]}",
        "name": "N",
        "surname": "S",
        "profilePhoto": None,
    }
    for action in ("start", "end", "delete"):
        body = await api.command(other, stream_id, action, status=403)
        assert body["code"] == "FORBIDDEN"
        assert (await api.command(guest, stream_id, action, status=403))["code"] == "FORBIDDEN"
    assert (await api.command(host, stream_id, "end", status=409))["code"] == "CONFLICT"
    started = (await api.command(host, stream_id, "start"))["data"]
    assert started["status"] == "live" and started["startedAt"] is not None
    assert (await api.command(host, stream_id, "start", status=409))["code"] == "CONFLICT"
    live = (await api.call("GET", "/whats-live-now?limit=100", guest)).json()["data"]["list"]
    assert [(i["id"], i["role"]) for i in live if i["id"] == stream_id] == [(stream_id, "guest")]
    anonymous = (await api.call("GET", "/whats-live-now?limit=100")).json()["data"]["list"]
    assert [i["role"] for i in anonymous if i["id"] == stream_id] == [None]
    joined = (await api.join_rest(guest, stream_id))["data"]
    assert (joined["role"], joined["projected"]) == ("guest", True)
    ended = (await api.command(host, stream_id, "end"))["data"]
    assert ended["status"] == "ended" and ended["broadcasters"] == [guest]
    assert ended["updatedAt"] == ended["endedAt"]
    live = (await api.call("GET", "/whats-live-now?limit=100")).json()["data"]["list"]
    assert stream_id not in [i["id"] for i in live]
    assert (await api.command(host, stream_id, "end", status=409))["code"] == "CONFLICT"
    assert (await api.command(host, stream_id, "start", status=409))["code"] == "CONFLICT"
    got = await api.call("GET", f"/{stream_id}", other)
    assert got.status_code == 200 and got.json()["data"]["role"] == "audience"
    deleted = (await api.command(host, stream_id, "delete"))["data"]
    assert deleted["id"] == stream_id and deleted["deleted"] is True
    gone = await api.call("GET", f"/{stream_id}", host)
    assert gone.status_code == 404 and gone.json()["code"] == "STREAM_NOT_FOUND"
    for action in ("start", "end", "delete"):
        assert (await api.command(host, stream_id, action, status=409))["code"] == "CONFLICT"
    assert (await api.join_rest(guest, stream_id, status=409))["code"] == "CONFLICT"


async def test_a_stream_that_never_went_live_can_be_deleted(api: LiveStreamApi) -> None:
    host = new_user()
    stream_id = (await api.create(host))["id"]
    await api.command(host, stream_id, "delete")
    assert (await api.call("GET", f"/{stream_id}")).status_code == 404


async def test_unknown_and_malformed_ids(api: LiveStreamApi) -> None:
    user, unknown = new_user(), str(ObjectId())
    for action in ("start", "end", "delete"):
        assert (await api.command(user, unknown, action, status=404))["code"] == "STREAM_NOT_FOUND"
        body = await api.command(user, "not-an-id", action, status=400)
        assert body["code"] == "VALIDATION_ERROR" and "id" in body["errors"][0]
    assert (await api.join_rest(user, unknown, status=404))["code"] == "STREAM_NOT_FOUND"
    assert (await api.join_rest(user, "123", status=400))["code"] == "VALIDATION_ERROR"
    assert (await api.call("GET", f"/{unknown}")).status_code == 404
    assert (await api.call("GET", "/zzz")).status_code == 400
    response = await api.call("POST", "/join", user, json={"liveStreamId": unknown, "x": 1})
    assert response.status_code == 400 and "x" in response.json()["errors"][0]
    response = await api.call("POST", "/join", user, content=b"[1]")
    assert response.status_code == 400 and response.json()["code"] == "INVALID_JSON"


async def test_fixed_paths_win_over_the_id_route(api: LiveStreamApi) -> None:
    user = new_user()
    for path in ("/my-broadcasted-streams", "/my-watched-streams", "/whats-live-now"):
        response = await api.call("GET", path, user)
        assert response.status_code == 200, (path, response.text)
        assert set(response.json()["data"]) == {"list", "pagination"}


async def test_a_create_body_with_many_problems_names_them_all(api: LiveStreamApi) -> None:
    response = await api.call(
        "POST",
        "",
        new_user(),
        json={
            "title": "",
            "liveStreamType": "trio",
            "accessType": "paid",
            "price": 0,
            "guests": ["x"],
            "thumbnailUrl": "ftp://h/x",
            "colour": "red",
        },
    )
    assert response.status_code == 400
    body = response.json()
    assert body["isSuccess"] is False and body["code"] == "VALIDATION_ERROR"
    named = {e.split(":")[0] for e in body["errors"]}
    assert named == {"title", "liveStreamType", "channelName", "price", "guests", "thumbnailUrl", "colour"}
    assert set(body["data"]["fields"]) == named


def _b64(obj: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()


def bad_credentials(api: LiveStreamApi) -> dict[str, tuple[str | None, str]]:
    """name -> (Authorization header, expected code)."""
    now = int(time.time())
    good = {"sub": new_user(), "exp": now + 600}
    anonymous = jwt.encode({"exp": now + 600, "username": "x"}, api.settings.jwt_secret, algorithm="HS256")
    return {
        "missing": (None, "UNAUTHORIZED"),
        "not bearer": ("Basic dXNlcjpwYXNz", "UNAUTHORIZED"),
        "bearer without a token": ("Bearer", "UNAUTHORIZED"),
        "malformed": ("Bearer abc.def", "INVALID_TOKEN"),
        "garbage segments": ("Bearer a.b.c", "INVALID_TOKEN"),
        "expired": (f"Bearer {api.token(new_user(), exp=now - 3600)}", "TOKEN_EXPIRED"),
        "wrong signature": (f"Bearer {jwt.encode(good, 'x' * 40, algorithm='HS256')}", "INVALID_TOKEN"),
        "alg none": (f"Bearer {_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(good)}.", "INVALID_TOKEN"),
        "no user id": (f"Bearer {anonymous}", "INVALID_TOKEN"),
    }


async def test_every_bad_credential_is_a_401(api: LiveStreamApi) -> None:
    stream_id = str(ObjectId())
    requests = [
        ("GET", "/my-broadcasted-streams", None),
        ("GET", "/my-watched-streams", None),
        ("POST", "", {"title": "t"}),
        ("POST", "/join", {"liveStreamId": stream_id}),
        ("POST", f"/{stream_id}/start", None),
        ("POST", f"/{stream_id}/end", None),
        ("DELETE", f"/{stream_id}", None),
    ]
    for name, (header, code) in bad_credentials(api).items():
        headers = {"Authorization": header} if header is not None else {}
        for method, path, body in requests:
            response = await api.call(method, path, headers=headers, json=body)
            assert response.status_code == 401, (name, method, path, response.text)
            got = response.json()
            assert (got["isSuccess"], got["statusCode"], got["code"]) == (False, 401, code), name
        if header is not None:  # optional auth: a credential that is sent must be valid
            response = await api.call("GET", "/whats-live-now", headers=headers)
            assert response.status_code == 401, (name, response.text)


async def test_rs256_public_key_option_through_the_gateway(services: Any) -> None:
    """The same app with JWT_PUBLIC_KEY, served in-process against the real servers."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    settings = isolated_settings(services, jwt_public_key=public)  # a public key means RS256
    now = int(time.time())
    claims = {"sub": new_user(), "exp": now + 600}
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    cases = {
        "valid": (jwt.encode(claims, key, algorithm="RS256"), 200, None),
        "another key": (jwt.encode(claims, other, algorithm="RS256"), 401, "INVALID_TOKEN"),
        "hs256 with the secret": (
            jwt.encode(claims, settings.jwt_secret + "x" * 32, algorithm="HS256"),
            401,
            "INVALID_TOKEN",
        ),
        "expired": (jwt.encode({**claims, "exp": now - 3600}, key, algorithm="RS256"), 401, "TOKEN_EXPIRED"),
        "alg none": (f"{_b64({'alg': 'none'})}.{_b64(claims)}.", 401, "INVALID_TOKEN"),
    }
    async with TestClient(TestServer(create_app(settings))) as client:
        for name, (token, status, code) in cases.items():
            response = await client.get(
                "/api/v1/live-stream/my-watched-streams", headers={"Authorization": f"Bearer {token}"}
            )
            assert response.status == status, (name, await response.text())
            if code is not None:
                assert (await response.json())["code"] == code, name
