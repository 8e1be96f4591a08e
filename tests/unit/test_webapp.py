"""The demo page's serving (index, assets, cache headers, no build) and the development token
endpoints (off by default, tokens the gateway's own verifier accepts), on an in-process server."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from gateway.auth import TokenVerifier
from gateway.http import devtoken, health, livestream, netflix, webapp
from gateway.responses import error_middleware
from streams.settings import DEV_API_KEY, Settings, SettingsError
from tests.openapi_check import check_response

pytestmark = pytest.mark.unit

INDEX = "<!doctype html><title>demo</title><div id=root></div>"
ASSET = "assets/index-AbC123.js"

Serve = Callable[[Settings], Awaitable[TestClient]]


@pytest.fixture
def dist(tmp_path: Path) -> Path:
    (tmp_path / "assets").mkdir()
    (tmp_path / "index.html").write_text(INDEX)
    (tmp_path / ASSET).write_text("console.log('demo')")
    (tmp_path / "favicon.svg").write_text("<svg/>")
    (tmp_path.parent / "secret.txt").write_text("not for you")
    return tmp_path


@pytest.fixture
async def serve() -> AsyncIterator[Serve]:
    """A gateway's REST routing in the app's order (API routes, dev endpoints, the page last),
    without its Kafka/database lifecycle: these routes never reach either."""
    clients: list[TestClient] = []

    async def start(settings: Settings) -> TestClient:
        app = web.Application(middlewares=[error_middleware])
        app.add_routes(health.routes())
        app.add_routes(netflix.routes())
        app.add_routes(livestream.routes())
        app.add_routes(devtoken.routes(settings))
        app.add_routes(webapp.routes(settings))
        client = TestClient(TestServer(app, host="127.0.0.1"))
        await client.start_server()
        clients.append(client)
        return client

    yield start
    for client in clients:
        await client.close()


async def test_index_for_the_root_and_the_page_views_with_no_cache(serve: Serve, dist: Path) -> None:
    client = await serve(Settings(web_dist_dir=str(dist)))
    for path in ("/", "/history", "/history/watched", "/index.html"):
        response = await client.get(path)
        assert response.status == 200, path
        assert await response.text() == INDEX
        assert response.headers["Cache-Control"] == "no-cache"
        assert response.headers["Content-Type"].startswith("text/html")


async def test_hashed_assets_are_cached_for_a_year_other_files_revalidated(serve: Serve, dist: Path) -> None:
    client = await serve(Settings(web_dist_dir=str(dist)))
    asset = await client.get(f"/{ASSET}")
    assert asset.status == 200 and await asset.text() == "console.log('demo')"
    assert asset.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert "javascript" in asset.headers["Content-Type"]
    icon = await client.get("/favicon.svg")
    assert icon.status == 200 and icon.headers["Cache-Control"] == "no-cache"
    gone = await client.get("/assets/index-OldHash.js")  # not index.html dressed as JavaScript
    assert gone.status == 404 and (await gone.json())["code"] == "NOT_FOUND"


async def test_nothing_outside_the_build_is_served(serve: Serve, dist: Path) -> None:
    client = await serve(Settings(web_dist_dir=str(dist)))
    for path in ("/../secret.txt", "/%2e%2e/secret.txt", "/assets/..%2f..%2fsecret.txt"):
        response = await client.get(path)
        assert "not for you" not in await response.text(), path


async def test_api_and_socket_paths_keep_their_own_answers(serve: Serve, dist: Path) -> None:
    client = await serve(Settings(web_dist_dir=str(dist)))
    unknown = await client.get("/api/no-such-route")
    assert unknown.status == 404 and (await unknown.json())["code"] == "NOT_FOUND"
    wrong_method = await client.get("/api/getinfo/async")
    assert wrong_method.status == 405 and (await wrong_method.json())["code"] == "METHOD_NOT_ALLOWED"
    assert (await client.get("/api")).status == 404
    assert (await client.get("/socket.io/")).status == 404  # no Socket.IO server in this app
    assert (await (await client.get("/healthz")).json())["data"] == {"status": "ok"}


async def test_without_a_build_the_root_says_how_to_build_it(serve: Serve, tmp_path: Path) -> None:
    client = await serve(Settings(web_dist_dir=str(tmp_path / "nothing-here")))
    response = await client.get("/")
    text = await response.text()
    assert response.status == 404 and response.headers["Content-Type"].startswith("text/html")
    assert "make web" in text and "nothing-here" in text
    assert (await client.get("/history")).status == 404


async def test_the_default_build_directory_is_the_checkouts() -> None:
    assert webapp.WebApp.from_settings(Settings()).dist == webapp.DEFAULT_DIST.resolve()
    assert webapp.DEFAULT_DIST.parts[-3:] == ("clients", "web", "dist")


async def test_dev_endpoints_are_off_by_default(serve: Serve) -> None:
    client = await serve(Settings())
    for response in (
        await client.get("/api/dev/config"),
        await client.post("/api/dev/token", json={"userId": "u1"}),
    ):
        body = await response.json()
        assert response.status == 404 and body["code"] == "NOT_FOUND", body
        check_response("get" if response.method == "GET" else "post", response.url.path, 404, body)


async def test_a_dev_token_is_accepted_by_the_gateways_verifier(serve: Serve) -> None:
    settings = Settings(dev_token_endpoint=True, jwt_secret="a-secret-only-this-test-knows-0123456789")
    client = await serve(settings)
    response = await client.post(
        "/api/dev/token", json={"userId": "65f0000000000000000000a1", "username": "ada"}
    )
    body = await response.json()
    assert response.status == 200, body
    check_response("post", "/api/dev/token", 200, body)
    user = TokenVerifier(settings).verify(body["data"]["token"])
    assert (user.id, user.username) == ("65f0000000000000000000a1", "ada")
    other = replace(settings, jwt_secret="another-secret-0123456789abcdefghij")
    with pytest.raises(Exception, match="signature"):
        TokenVerifier(other).verify(body["data"]["token"])
    for bad in ({}, {"userId": ""}, {"userId": 7}, {"userId": "x" * 129}, {"userId": "u", "name": 1}):
        refused = await client.post("/api/dev/token", json=bad)
        assert refused.status == 400, bad
        check_response("post", "/api/dev/token", 400, await refused.json())


async def test_dev_config_hands_out_only_the_development_key(serve: Serve) -> None:
    with_dev_key = await serve(Settings(dev_token_endpoint=True))
    body = await (await with_dev_key.get("/api/dev/config")).json()
    check_response("get", "/api/dev/config", 200, body)
    assert body["data"] == {"devToken": True, "apiKey": DEV_API_KEY}
    real_keys = await serve(Settings(dev_token_endpoint=True, api_keys=frozenset({"prod-key"})))
    assert (await (await real_keys.get("/api/dev/config")).json())["data"] == {"devToken": True}


async def test_no_dev_tokens_when_tokens_are_rs256(serve: Serve) -> None:
    client = await serve(Settings(dev_token_endpoint=True, jwt_public_key="-----BEGIN PUBLIC KEY-----"))
    assert (await client.post("/api/dev/token", json={"userId": "u"})).status == 404


@pytest.mark.parametrize(
    ("raw", "value"), [("1", True), ("on", True), ("TRUE", True), ("0", False), ("no", False)]
)
def test_dev_token_endpoint_setting(raw: str, value: bool) -> None:
    settings = Settings.from_env({"DEV_TOKEN_ENDPOINT": raw, "WEB_DIST_DIR": "/srv/web"})
    assert (settings.dev_token_endpoint, settings.web_dist_dir) == (value, "/srv/web")
    assert Settings.from_env(settings.to_env()) == settings


def test_an_unclear_dev_token_endpoint_setting_is_refused() -> None:
    with pytest.raises(SettingsError, match="DEV_TOKEN_ENDPOINT"):
        Settings.from_env({"DEV_TOKEN_ENDPOINT": "maybe"})
