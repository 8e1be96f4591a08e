"""REST for live streams under /api/v1/live-stream: create/start/end/delete/join and the lists."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable

from aiohttp import web

from gateway import livestream_service as service
from gateway.auth import User
from gateway.context import CTX, Context
from gateway.responses import ok, read_json_object
from projections.queries import get_stream, my_broadcasted, my_watched, whats_live_now
from streams.errors import ErrorCode, NotFoundError, ValidationError
from streams.events.livestream import StreamEnded, StreamStarted, StreamView
from streams.livestream import commands

# A command answers with the fresh DTO once the read model shows it, or a 202 with the id if it
# does not within `projection_wait_seconds` (gateway/livestream_service.py). The gateway never
# writes a read model.

BASE = "/api/v1/live-stream"
MAX_LIMIT = 100
# The database takes the skip, (page - 1) * limit, as a signed 64-bit integer: a page beyond
# that is a 400. Any page up to it is cheap: past the last item the lists answer an empty page
# from the count alone, without skipping (projections/livestream_queries.py).
MAX_SKIP = 2**63 - 1
_DIGITS = re.compile(r"[0-9]{1,19}")
_SHOWN = 40  # of a bad value, echoed in the message


# -- request parsing ---------------------------------------------------------------------------
def _int_param(request: web.Request, name: str, default: int, maximum: int) -> int:
    raw = request.query.get(name)
    if raw is None:
        return default
    if not _DIGITS.fullmatch(raw) or not 1 <= int(raw) <= maximum:
        shown = raw if len(raw) <= _SHOWN else raw[:_SHOWN] + "…"
        raise ValidationError(
            f"{name} must be an integer between 1 and {maximum}, got {shown!r}",
            details={"parameter": name, "minimum": 1, "maximum": maximum},
        )
    return int(raw)


def max_page(limit: int) -> int:
    """The largest page whose skip fits the database's int64."""
    return MAX_SKIP // limit + 1


def page_params(request: web.Request) -> tuple[int, int]:
    """`page` (default 1, min 1, at most `max_page(limit)`) and `limit` (default 10, 1..100);
    anything else is a 400 VALIDATION_ERROR naming the parameter."""
    limit = _int_param(request, "limit", 10, MAX_LIMIT)
    return _int_param(request, "page", 1, max_page(limit)), limit


def _path_id(request: web.Request) -> str:
    return commands.parse_object_id(request.match_info["id"], "live stream id")


def _user(ctx: Context, request: web.Request) -> User:
    return ctx.tokens.from_header(request.headers.get("Authorization"))


def _optional_user_id(ctx: Context, request: web.Request) -> str | None:
    user = ctx.tokens.optional(request.headers.get("Authorization"))
    return user.id if user is not None else None


def _accepted(request: web.Request, live_stream_id: str) -> web.Response:
    return ok({"id": live_stream_id, "projected": False}, status=202, request=request)


# -- commands ----------------------------------------------------------------------------------
async def create(request: web.Request) -> web.Response:
    ctx = request.app[CTX]
    user = _user(ctx, request)
    body = await read_json_object(request)
    live_stream_id, dto = await service.create(ctx, user, body)
    if dto is None:
        return _accepted(request, live_stream_id)
    return ok(dto, status=201, request=request)


def _transition(
    check: Callable[[StreamView | None, str, str], object],
    event: service.PayloadFor,
    done: Callable[[StreamView], bool],
) -> Callable[[web.Request], Awaitable[web.Response]]:
    """The handler of a creator-only lifecycle step: 200 with the DTO once projected, else 202."""

    async def handle(request: web.Request) -> web.Response:
        ctx = request.app[CTX]
        user = _user(ctx, request)
        live_stream_id = _path_id(request)
        dto = await service.transition(ctx, user, live_stream_id, check, event, done)
        return _accepted(request, live_stream_id) if dto is None else ok(dto, request=request)

    return handle


start = _transition(
    commands.check_start,
    lambda sid, now: StreamStarted(live_stream_id=sid, started_at=now),
    lambda view: view.started_at is not None,
)
end = _transition(
    commands.check_end,
    lambda sid, now: StreamEnded(live_stream_id=sid, ended_at=now),
    lambda view: view.ended_at is not None,
)


async def delete(request: web.Request) -> web.Response:
    ctx = request.app[CTX]
    user = _user(ctx, request)
    live_stream_id = _path_id(request)
    view = await service.delete(ctx, user, live_stream_id)
    if view is None:
        return _accepted(request, live_stream_id)
    return ok({"id": live_stream_id, "deleted": True, "deletedAt": view.deleted_at}, request=request)


async def join_rest(request: web.Request) -> web.Response:
    ctx = request.app[CTX]
    user = _user(ctx, request)
    body = await read_json_object(request)
    unknown = sorted(set(body) - {"liveStreamId"})
    if unknown:
        raise ValidationError(f"unknown field(s): {', '.join(unknown)}; send {{liveStreamId}}")
    live_stream_id = commands.parse_object_id(body.get("liveStreamId"), "liveStreamId")
    role, joined = await service.join(ctx, user, live_stream_id, "rest")
    projected = await service.joined_projected(ctx, user, live_stream_id, role)
    data = {
        "liveStreamId": live_stream_id,
        "role": role.value,
        "joinedAt": joined.joined_at,
        "projected": projected,
    }
    return ok(data, status=200 if projected else 202, request=request)


# -- reads -------------------------------------------------------------------------------------
async def broadcasted(request: web.Request) -> web.Response:
    ctx = request.app[CTX]
    user = _user(ctx, request)
    page, limit = page_params(request)
    return ok(await my_broadcasted(ctx.store, user.id, page, limit), request=request)


async def watched(request: web.Request) -> web.Response:
    ctx = request.app[CTX]
    user = _user(ctx, request)
    page, limit = page_params(request)
    return ok(await my_watched(ctx.store, user.id, page, limit), request=request)


async def live_now(request: web.Request) -> web.Response:
    ctx = request.app[CTX]
    user_id = _optional_user_id(ctx, request)
    page, limit = page_params(request)
    return ok(await whats_live_now(ctx.store, page, limit, user_id), request=request)


async def get_one(request: web.Request) -> web.Response:
    ctx = request.app[CTX]
    user_id = _optional_user_id(ctx, request)
    live_stream_id = _path_id(request)
    dto = await get_stream(ctx.store, live_stream_id, user_id)
    if dto is None:
        raise NotFoundError(f"live stream {live_stream_id} does not exist", code=ErrorCode.STREAM_NOT_FOUND)
    return ok(dto, request=request)


def routes() -> list[web.RouteDef]:
    # The fixed paths come before `{id}`, so they win.
    return [
        web.post(BASE, create),
        web.post(f"{BASE}/join", join_rest),
        web.get(f"{BASE}/my-broadcasted-streams", broadcasted),
        web.get(f"{BASE}/my-watched-streams", watched),
        web.get(f"{BASE}/whats-live-now", live_now),
        web.post(f"{BASE}/{{id}}/start", start),
        web.post(f"{BASE}/{{id}}/end", end),
        web.delete(f"{BASE}/{{id}}", delete),
        web.get(f"{BASE}/{{id}}", get_one),
    ]
