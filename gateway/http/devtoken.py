"""Development only: POST /api/dev/token signs a user token, GET /api/dev/config tells the demo
page what it may use. Both answer 404 unless DEV_TOKEN_ENDPOINT is on (it is off by default):
anyone who can reach the endpoint can act as any user."""

from __future__ import annotations

import time
from typing import Any

import jwt
from aiohttp import web

from gateway.responses import ok, read_json_object
from streams.errors import NotFoundError, ValidationError
from streams.settings import DEV_API_KEY, Settings

TOKEN_TTL_SECONDS = 12 * 3600
MAX_USER_ID = 128
PROFILE_CLAIMS = ("username", "name", "surname")


class DevEndpoints:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        # RS256 deployments verify with a public key: there is no secret here to sign with.
        self.enabled = settings.dev_token_endpoint and not settings.jwt_public_key

    def _require_enabled(self) -> None:
        if not self.enabled:
            raise NotFoundError("not found (the development token endpoint is off: DEV_TOKEN_ENDPOINT=1)")

    async def config(self, request: web.Request) -> web.Response:
        self._require_enabled()
        data: dict[str, Any] = {"devToken": True}
        if DEV_API_KEY in self._settings.api_keys:
            data["apiKey"] = DEV_API_KEY  # only the documented development key, never a real one
        return ok(data, request=request)

    async def token(self, request: web.Request) -> web.Response:
        self._require_enabled()
        body = await read_json_object(request)
        user_id = body.get("userId")
        if not isinstance(user_id, str) or not user_id.strip():
            raise ValidationError("userId is required: a non-empty string")
        if len(user_id) > MAX_USER_ID:
            raise ValidationError(f"userId is longer than {MAX_USER_ID} characters")
        claims: dict[str, Any] = {"sub": user_id.strip(), "exp": int(time.time()) + TOKEN_TTL_SECONDS}
        for name in PROFILE_CLAIMS:
            value = body.get(name)
            if value is not None and not isinstance(value, str):
                raise ValidationError(f"{name} must be a string")
            if value:
                claims[name] = value
        token = jwt.encode(claims, self._settings.jwt_secret, algorithm="HS256")
        return ok({"token": token, "expiresIn": TOKEN_TTL_SECONDS}, request=request)


def routes(settings: Settings) -> list[web.RouteDef]:
    dev = DevEndpoints(settings)
    return [web.post("/api/dev/token", dev.token), web.get("/api/dev/config", dev.config)]
