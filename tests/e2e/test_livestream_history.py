"""Live-stream history end to end: REST and Socket.IO joins through the real gateway, the real
worker, Kafka and the Mongo-wire server, checked through the history endpoints.

One worker + gateway per module; every scenario uses fresh user and stream ids.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
import socketio
from bson import ObjectId

from projections.store import MongoStore
from streams.settings import Settings
from tests.support import ServiceProcess, isolated_settings, start_gateway, start_worker

pytestmark = pytest.mark.e2e
BASE = "/api/v1/live-stream"


def new_user() -> str:
    return str(ObjectId())


@dataclass
class LiveStreamApi:
    """The client side of the contract: REST with a JWT per user, sockets per namespace."""

    settings: Settings
    http: httpx.AsyncClient
    store: MongoStore
    sockets: list[socketio.AsyncClient] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.settings.port}"

    def token(self, user_id: str, **claims: Any) -> str:
        body = {
            "sub": user_id,
            "username": f"u{user_id[-4:]}",
            "name": "N",
            "surname": "S",
            "exp": int(time.time()) + 600,
            **claims,
        }
        return jwt.encode(body, self.settings.jwt_secret, algorithm="HS256")

    def auth(self, user_id: str | None) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(user_id)}"} if user_id else {}

    async def call(
        self,
        method: str,
        path: str,
        user: str | None = None,
        *,
        headers: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        return await self.http.request(
            method, BASE + path, headers={**self.auth(user), **(headers or {})}, **kwargs
        )

    async def create(self, host: str, **body: Any) -> dict[str, Any]:
        payload = {
            "title": "Yayin basligi",
            "liveStreamType": "solo",
            "channelName": "channel-name",
            "interest": "music",
            **body,
        }
        response = await self.call("POST", "", host, json=payload)
        assert response.status_code == 201, response.text
        return response.json()["data"]

    async def command(self, host: str, stream_id: str, action: str, status: int = 200) -> Any:
        method, path = (
            ("DELETE", f"/{stream_id}") if action == "delete" else ("POST", f"/{stream_id}/{action}")
        )
        response = await self.call(method, path, host)
        assert response.status_code == status, response.text
        return response.json()

    async def live_stream(self, host: str, **body: Any) -> str:
        stream_id = (await self.create(host, **body))["id"]
        await self.command(host, stream_id, "start")
        return str(stream_id)

    async def join_rest(self, user: str, stream_id: str, status: int = 200) -> dict[str, Any]:
        response = await self.call("POST", "/join", user, json={"liveStreamId": stream_id})
        assert response.status_code == status, response.text
        return dict(response.json())

    async def socket(
        self, namespace: str, auth: Any = None, headers: dict[str, str] | None = None
    ) -> socketio.AsyncClient:
        client = socketio.AsyncClient(reconnection=False)
        await client.connect(
            self.url,
            namespaces=[namespace],
            auth=auth,
            headers=headers or {},
            transports=["websocket"],
            wait_timeout=10,
        )
        self.sockets.append(client)
        return client

    async def join_socket(self, namespace: str, user: str | None, stream_id: str) -> dict[str, Any]:
        client = await self.socket(namespace, {"token": self.token(user)} if user else None)
        ack = await client.call("joinStream", {"liveStreamId": stream_id}, namespace=namespace, timeout=10)
        await client.disconnect()
        return dict(ack)

    async def history(
        self, kind: str, user: str, page: int | None = None, limit: int | None = None
    ) -> dict[str, Any]:
        params = {k: v for k, v in (("page", page), ("limit", limit)) if v is not None}
        response = await self.call("GET", f"/my-{kind}-streams", user, params=params)
        assert response.status_code == 200, response.text
        return dict(response.json()["data"])

    async def roles(self, user: str, stream_id: str) -> dict[str, str]:
        """{bucket: role} of `stream_id` in the user's two history lists."""
        found: dict[str, str] = {}
        for kind in ("broadcasted", "watched"):
            for item in (await self.history(kind, user, limit=100))["list"]:
                if item["id"] == stream_id:
                    assert kind not in found, f"{stream_id} twice in {kind}"
                    found[kind] = item["role"]
        return found

    async def close(self) -> None:
        for client in self.sockets:
            if client.connected:
                await client.disconnect()


@asynccontextmanager
async def livestream_stack(
    services: Any, log_dir: Path, **overrides: Any
) -> AsyncIterator[tuple[LiveStreamApi, list[ServiceProcess]]]:
    settings = isolated_settings(services, **overrides)
    procs = list(await asyncio.gather(start_worker(settings, log_dir), start_gateway(settings, log_dir)))
    store = MongoStore(settings.mongodb_uri, settings.mongodb_database)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{settings.port}", timeout=30) as http:
        api = LiveStreamApi(settings, http, store)
        try:
            yield api, procs
        finally:
            await api.close()
            for proc in procs:
                proc.stop()
            await store.client.drop_database(settings.mongodb_database)
            await store.close()


@pytest.fixture(scope="module")
async def api(services: Any, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[LiveStreamApi]:
    async with livestream_stack(services, tmp_path_factory.mktemp("livestream")) as (stack, _):
        yield stack


# -- the scenario table ------------------------------------------------------------------------
# A step is (action, who, channel): action join/end/delete; who host/guest/fan/fan2/anon.
Step = tuple[str, str, str]
SCENARIOS: dict[str, tuple[list[Step], dict[str, dict[str, str]]]] = {
    "rest join": (
        [("join", "fan", "rest"), ("end", "host", "")],
        {"fan": {"watched": "audience"}, "host": {"broadcasted": "host"}},
    ),
    "socket /live-stream": (
        [("join", "fan", "/live-stream"), ("end", "host", "")],
        {"fan": {"watched": "audience"}},
    ),
    "socket /stream-chat": (
        [("join", "fan", "/stream-chat"), ("end", "host", "")],
        {"fan": {"watched": "audience"}},
    ),
    "unauthenticated socket writes no history": (
        [("join", "anon", "/live-stream"), ("join", "anon", "/stream-chat"), ("end", "host", "")],
        {"host": {"broadcasted": "host"}},
    ),
    "repeated joins give one item": (
        [
            ("join", "fan", "rest"),
            ("join", "fan", "rest"),
            ("join", "fan", "/live-stream"),
            ("join", "fan", "/stream-chat"),
            ("join", "fan", "rest"),
            ("end", "host", ""),
        ],
        {"fan": {"watched": "audience"}},
    ),
    "join without an end is not history": (
        [("join", "fan", "rest"), ("join", "fan2", "/live-stream")],
        {"fan": {}, "fan2": {}, "host": {}},
    ),
    "end then delete hides it for everyone": (
        [
            ("join", "fan", "rest"),
            ("join", "guest", "/stream-chat"),
            ("end", "host", ""),
            ("delete", "host", ""),
        ],
        {"fan": {}, "guest": {}, "host": {}},
    ),
    "guest and host in one stream": (
        [
            ("join", "host", "/live-stream"),
            ("join", "guest", "/live-stream"),
            ("join", "guest", "rest"),
            ("join", "fan", "/stream-chat"),
            ("end", "host", ""),
        ],
        {"host": {"broadcasted": "host"}, "guest": {"broadcasted": "guest"}, "fan": {"watched": "audience"}},
    ),
    "the host joining as a viewer stays the host": (
        [("join", "host", "rest"), ("join", "host", "/stream-chat"), ("end", "host", "")],
        {"host": {"broadcasted": "host"}},
    ),
}


@pytest.mark.parametrize("name", list(SCENARIOS))
async def test_history_scenarios(api: LiveStreamApi, name: str) -> None:
    steps, expected = SCENARIOS[name]
    users = {who: new_user() for who in ("host", "guest", "fan", "fan2")}
    stream_id = await api.live_stream(users["host"], guests=[users["guest"]], liveStreamType="duoself")
    for action, who, channel in steps:
        user = users.get(who)
        if action in ("end", "delete"):
            await api.command(users[who], stream_id, action)
        elif channel == "rest":
            await api.join_rest(users[who], stream_id)
        else:
            ack = await api.join_socket(channel, user, stream_id)
            role = {"host": "host", "guest": "guest"}.get(who, "audience") if user else None
            assert ack == {
                "ok": True,
                "liveStreamId": stream_id,
                "role": role,
                "authenticated": user is not None,
            }
    # No waiting: end/delete answer once the projection shows them, and the worker writes the
    # participations before the stream document, so the lists are already right.
    for who, buckets in expected.items():
        assert await api.roles(users[who], stream_id) == buckets, who
    participants = {d["userId"] async for d in (await api.store.history()).find({"liveStreamId": stream_id})}
    joined = {users[w] for a, w, _ in steps if a == "join" and w != "anon"}
    assert participants == joined | {users["host"]}  # the creator is a participant as host


async def test_history_items_carry_the_seed_dto(api: LiveStreamApi) -> None:
    host, fan = new_user(), new_user()
    stream_id = await api.live_stream(host, thumbnailUrl="https://cdn.example.com/t.png")
    await api.join_rest(fan, stream_id)
    ended = (await api.command(host, stream_id, "end"))["data"]
    page = await api.history("watched", fan)
    assert page["pagination"] == {
        "currentPage": 1,
        "totalPages": 1,
        "totalItems": 1,
        "itemsPerPage": 10,
        "hasNextPage": False,
        "hasPrevPage": False,
    }
    (item,) = page["list"]
    assert item == {**ended, "role": "audience"}
    assert item["status"] == "ended" and item["creator"]["_id"] == host
    assert item["endedAt"].endswith("Z") and len(item["endedAt"]) == 24
    assert not any(k in item for k in ("deleted", "spent", "earned", "earnings", "_id"))


async def test_a_join_after_the_end_is_refused_on_every_channel(api: LiveStreamApi) -> None:
    host, fan = new_user(), new_user()
    stream_id = await api.live_stream(host)
    await api.command(host, stream_id, "end")
    body = await api.join_rest(fan, stream_id, status=409)
    assert body["code"] == "CONFLICT"
    for namespace in ("/live-stream", "/stream-chat"):
        ack = await api.join_socket(namespace, fan, stream_id)
        assert ack["ok"] is False and ack["error"]["code"] == "CONFLICT"
    assert await api.roles(fan, stream_id) == {}


async def test_socket_tokens_from_header_and_invalid_tokens(api: LiveStreamApi) -> None:
    host, fan = new_user(), new_user()
    stream_id = await api.live_stream(host)
    header = {"Authorization": f"Bearer {api.token(fan)}"}
    by_header = await api.socket("/live-stream", headers=header)
    ack = await by_header.call(
        "joinStream", {"liveStreamId": stream_id}, namespace="/live-stream", timeout=10
    )
    assert ack["authenticated"] is True and ack["role"] == "audience"
    expired = api.token(new_user(), exp=int(time.time()) - 3600)
    bad = await api.socket("/stream-chat", auth={"token": expired})
    ack = await bad.call("joinStream", stream_id, namespace="/stream-chat", timeout=10)
    assert ack == {"ok": True, "liveStreamId": stream_id, "role": None, "authenticated": False}
    for payload in ({"liveStreamId": "nope"}, None, {"liveStreamId": str(ObjectId())}):
        ack = await bad.call("joinStream", payload, namespace="/stream-chat", timeout=10)
        assert ack["ok"] is False
        assert ack["error"]["code"] in ("VALIDATION_ERROR", "STREAM_NOT_FOUND")
    await api.command(host, stream_id, "end")
    assert await api.roles(fan, stream_id) == {"watched": "audience"}


# -- pagination --------------------------------------------------------------------------------
async def test_pagination_edges(api: LiveStreamApi) -> None:
    host, fan = new_user(), new_user()
    ids = []
    for _ in range(6):
        stream_id = await api.live_stream(host)
        await api.join_rest(fan, stream_id)
        await api.command(host, stream_id, "end")
        ids.append(stream_id)
    newest_first = ids[::-1]

    def shape(data: dict[str, Any]) -> tuple[Any, ...]:
        p = data["pagination"]
        return (
            [i["id"] for i in data["list"]],
            p["currentPage"],
            p["totalPages"],
            p["totalItems"],
            p["itemsPerPage"],
            p["hasNextPage"],
            p["hasPrevPage"],
        )

    empty = await api.history("watched", new_user())
    assert shape(empty) == ([], 1, 0, 0, 10, False, False)
    assert shape(await api.history("broadcasted", fan)) == ([], 1, 0, 0, 10, False, False)
    assert shape(await api.history("watched", fan)) == (newest_first, 1, 1, 6, 10, False, False)
    n = newest_first
    pages = [  # (page, limit) -> (ids, currentPage, totalPages, hasNextPage, hasPrevPage)
        ((1, 3), (n[:3], 1, 2, True, False)),  # an exact multiple of the limit
        ((2, 3), (n[3:], 2, 2, False, True)),
        ((1, 4), (n[:4], 1, 2, True, False)),  # a short last page
        ((2, 4), (n[4:], 2, 2, False, True)),
        ((2, 2), (n[2:4], 2, 3, True, True)),  # the middle
        ((3, 2), (n[4:], 3, 3, False, True)),
        ((7, 1), ([], 7, 6, False, True)),  # past the end
    ]
    for (page, limit), (want, current, total_pages, has_next, has_prev) in pages:
        got = shape(await api.history("watched", fan, page, limit))
        assert got == (want, current, total_pages, 6, limit, has_next, has_prev), (page, limit)
    assert shape(await api.history("watched", fan, 1, 100))[0] == newest_first
    broadcasted = await api.history("broadcasted", host, 1, 100)
    assert [i["id"] for i in broadcasted["list"]][:6] == newest_first
    assert {i["role"] for i in broadcasted["list"]} == {"host"}


@pytest.mark.parametrize(
    "query",
    [
        "page=0",
        "page=-1",
        "page=abc",
        "page=1.5",
        "page=",
        "page=%201",
        "page=1e3",
        "limit=0",
        "limit=101",
        "limit=-5",
        "limit=abc",
        "limit=2.0",
        "limit=",
        "page=99999999999999999999",
    ],
)
async def test_bad_page_parameters_are_a_400_naming_them(api: LiveStreamApi, query: str) -> None:
    user = new_user()
    for path in ("/my-watched-streams", "/my-broadcasted-streams", "/whats-live-now"):
        response = await api.call("GET", f"{path}?{query}", user)
        assert response.status_code == 400, (path, query, response.text)
        body = response.json()
        assert body["isSuccess"] is False and body["code"] == "VALIDATION_ERROR"
        assert query.split("=")[0] in body["errors"][0]
