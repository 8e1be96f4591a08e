"""REST for live streams under /api/v1/live-stream: create/start/end/delete/join and the lists.

Commands validate against the `live_streams` read model, append one event to
`livestream.events` and then wait (read-your-writes) until the projection shows it, so the
answer is the fresh DTO; if the projection does not catch up in `projection_wait_seconds` the
answer is a 202 with the id. The gateway never writes a read model.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TypeVar

from aiohttp import web
from bson import ObjectId
from pydantic import BaseModel

from gateway.auth import User
from gateway.context import CTX, Context
from gateway.responses import fail, ok, read_json_object
from projections.livestream_queries import (
    find_participation,
    find_stream,
    get_stream,
    my_broadcasted,
    my_watched,
    whats_live_now,
)
from projections.livestream_streams import to_dto
from projections.store import Doc
from streams.errors import ErrorCode, ValidationError
from streams.events import Envelope, new_event
from streams.events.envelope import utc_ms
from streams.events.livestream import (
    ROLE_RANK,
    JoinChannel,
    ParticipantJoined,
    Role,
    StreamDeleted,
    StreamEnded,
    StreamStarted,
    UserProfile,
)
from streams.livestream import commands

T = TypeVar("T")
BASE = "/api/v1/live-stream"
POLL_SECONDS = 0.05
# An id a client just got from a 202 may not be projected yet: look again this long.
NOT_FOUND_GRACE_SECONDS = 1.0
MAX_PAGE = 1_000_000
MAX_LIMIT = 100
_DIGITS = re.compile(r"[0-9]{1,9}")


# -- request parsing ---------------------------------------------------------------------------
def _int_param(request: web.Request, name: str, default: int, maximum: int) -> int:
    raw = request.query.get(name)
    if raw is None:
        return default
    if not _DIGITS.fullmatch(raw) or not 1 <= int(raw) <= maximum:
        raise ValidationError(f"{name} must be an integer between 1 and {maximum}, got {raw!r}")
    return int(raw)


def page_params(request: web.Request) -> tuple[int, int]:
    """`page` (default 1, min 1) and `limit` (default 10, 1..100); anything else is a 400."""
    return (_int_param(request, "page", 1, MAX_PAGE), _int_param(request, "limit", 10, MAX_LIMIT))


def _path_id(request: web.Request) -> str:
    return commands.parse_object_id(request.match_info["id"], "live stream id")


def _user(ctx: Context, request: web.Request) -> User:
    return ctx.tokens.from_header(request.headers.get("Authorization"))


def _optional_user(ctx: Context, request: web.Request) -> User | None:
    """No header: anonymous. A header that is there must be valid (401 otherwise)."""
    header = request.headers.get("Authorization")
    return ctx.tokens.from_header(header) if header else None


# -- shared with the Socket.IO namespaces ------------------------------------------------------
async def poll(check: Callable[[], Awaitable[T | None]], seconds: float) -> T | None:
    """`check()` every POLL_SECONDS until it returns something, or None after `seconds`."""
    deadline = time.monotonic() + seconds
    while True:
        found = await check()
        if found is not None or time.monotonic() >= deadline:
            return found
        await asyncio.sleep(POLL_SECONDS)


async def load_stream(ctx: Context, live_stream_id: str) -> Doc | None:
    """The stream's document for a command, with a short grace for a just-created stream."""
    grace = min(NOT_FOUND_GRACE_SECONDS, ctx.settings.projection_wait_seconds)
    return await poll(lambda: find_stream(ctx.store, live_stream_id), grace)


async def join(
    ctx: Context, user: User, live_stream_id: str, channel: JoinChannel
) -> tuple[Role, Envelope]:
    """Check the stream can be joined, append participant.joined; (role, the event)."""
    stream = commands.check_join(await load_stream(ctx, live_stream_id), live_stream_id)
    role = commands.role_for(stream, user.id)
    event = new_event(
        ParticipantJoined(live_stream_id=live_stream_id, user_id=user.id, role=role,
                          channel=channel, joined_at=ctx.clock()),
        key=live_stream_id, clock=ctx.clock, ids=ctx.ids,
    )
    await ctx.events.append(ctx.topics.livestream_events, event)
    return role, event


# -- commands ----------------------------------------------------------------------------------
async def _until_stream(
    ctx: Context, live_stream_id: str, done: Callable[[Doc], bool]
) -> Doc | None:
    async def check() -> Doc | None:
        doc = await find_stream(ctx.store, live_stream_id)
        return doc if doc is not None and done(doc) else None

    return await poll(check, ctx.settings.projection_wait_seconds)


def _accepted(request: web.Request, live_stream_id: str) -> web.Response:
    return ok({"id": live_stream_id, "projected": False}, status=202, request=request)


async def create(request: web.Request) -> web.Response:
    ctx = request.app[CTX]
    user = _user(ctx, request)
    body = await read_json_object(request)
    live_stream_id = str(ObjectId())
    creator = UserProfile.model_validate(user.profile())  # the token's claims, seed-shaped
    try:
        payload = commands.validate_create(body, live_stream_id=live_stream_id, creator=creator,
                                           now=ctx.clock())
    except ValidationError as exc:
        problems = exc.details.get("problems")
        messages = [str(p) for p in problems] if isinstance(problems, list) else [exc.message]
        return fail(400, exc.code, messages, data=exc.details, request=request)
    await ctx.events.append(ctx.topics.livestream_events,
                            new_event(payload, key=live_stream_id, clock=ctx.clock, ids=ctx.ids))
    doc = await _until_stream(ctx, live_stream_id, lambda d: True)
    if doc is None:
        return _accepted(request, live_stream_id)
    return ok(to_dto(doc, Role.HOST.value), status=201, request=request)


async def _transition(
    request: web.Request,
    check: Callable[[Doc | None, str, str], object],
    payload: Callable[[str, datetime], BaseModel],
    reached: Callable[[Doc], bool],
) -> web.Response:
    """A creator-only lifecycle command: check it, append its event, answer with the fresh DTO
    once the read model shows it (202 if it does not in time)."""
    ctx = request.app[CTX]
    user = _user(ctx, request)
    live_stream_id = _path_id(request)
    check(await load_stream(ctx, live_stream_id), user.id, live_stream_id)
    event = new_event(payload(live_stream_id, ctx.clock()), key=live_stream_id, clock=ctx.clock,
                      ids=ctx.ids)
    await ctx.events.append(ctx.topics.livestream_events, event)
    doc = await _until_stream(ctx, live_stream_id, reached)
    if doc is None:
        return _accepted(request, live_stream_id)
    return ok(to_dto(doc, Role.HOST.value), request=request)


async def start(request: web.Request) -> web.Response:
    return await _transition(
        request, commands.check_start,
        lambda sid, now: StreamStarted(live_stream_id=sid, started_at=now),
        lambda d: d.get("startedAt") is not None,
    )


async def end(request: web.Request) -> web.Response:
    return await _transition(
        request, commands.check_end,
        lambda sid, now: StreamEnded(live_stream_id=sid, ended_at=now),
        lambda d: d.get("endedAt") is not None,
    )


async def delete(request: web.Request) -> web.Response:
    ctx = request.app[CTX]
    user = _user(ctx, request)
    live_stream_id = _path_id(request)
    commands.check_delete(await load_stream(ctx, live_stream_id), user.id, live_stream_id)
    event = new_event(
        StreamDeleted(live_stream_id=live_stream_id, deleted_at=ctx.clock(), deleted_by=user.id),
        key=live_stream_id, clock=ctx.clock, ids=ctx.ids,
    )
    await ctx.events.append(ctx.topics.livestream_events, event)
    doc = await _until_stream(ctx, live_stream_id, lambda d: bool(d.get("deleted")))
    if doc is None:
        return _accepted(request, live_stream_id)
    return ok({"id": live_stream_id, "deleted": True, "deletedAt": doc.get("deletedAt")},
              request=request)


async def join_rest(request: web.Request) -> web.Response:
    ctx = request.app[CTX]
    user = _user(ctx, request)
    body = await read_json_object(request)
    unknown = sorted(set(body) - {"liveStreamId"})
    if unknown:
        raise ValidationError(f"unknown field(s): {', '.join(unknown)}; send {{liveStreamId}}")
    live_stream_id = commands.parse_object_id(body.get("liveStreamId"), "liveStreamId")
    role, event = await join(ctx, user, live_stream_id, "rest")
    assert isinstance(event.data, ParticipantJoined)  # noqa: S101 - join() built it
    joined_at = utc_ms(event.data.joined_at)

    async def projected() -> Doc | None:
        # A repeated join changes nothing the lists show: the document with this role is enough.
        doc = await find_participation(ctx.store, user.id, live_stream_id)
        done = doc is not None and ROLE_RANK[Role(doc["role"])] >= ROLE_RANK[role]
        return doc if done else None

    seen = await poll(projected, ctx.settings.projection_wait_seconds)
    data = {"liveStreamId": live_stream_id, "role": role.value, "joinedAt": joined_at,
            "projected": seen is not None}
    return ok(data, status=200 if seen is not None else 202, request=request)


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
    user = _optional_user(ctx, request)
    page, limit = page_params(request)
    data = await whats_live_now(ctx.store, page, limit, user.id if user else None)
    return ok(data, request=request)


async def get_one(request: web.Request) -> web.Response:
    ctx = request.app[CTX]
    user = _optional_user(ctx, request)
    live_stream_id = _path_id(request)
    dto = await get_stream(ctx.store, live_stream_id, user.id if user else None)
    if dto is None:
        return fail(404, ErrorCode.STREAM_NOT_FOUND,
                    [f"live stream {live_stream_id} does not exist"], request=request)
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
