"""Live-stream commands for every edge (REST and Socket.IO): check, append, read your own write."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from typing import Any, TypeVar

from bson import ObjectId
from pydantic import BaseModel

from gateway.auth import User
from gateway.context import Context
from projections.queries import Dto, find_stream, find_stream_dto, participation_role
from streams.errors import UnavailableError
from streams.events import Envelope, new_event
from streams.events.livestream import (
    ROLE_RANK,
    JoinChannel,
    ParticipantJoined,
    Role,
    StreamDeleted,
    StreamView,
    UserProfile,
)
from streams.livestream import commands

log = logging.getLogger(__name__)

T = TypeVar("T")
POLL_SECONDS = 0.05
# An id a client just got from a 202 may not be projected yet: look again this long.
NOT_FOUND_GRACE_SECONDS = 1.0
# A lifecycle command's event from (live stream id, now).
PayloadFor = Callable[[str, datetime], BaseModel]


async def poll(check: Callable[[], Awaitable[T | None]], seconds: float) -> T | None:
    """`check()` every POLL_SECONDS until it returns something, or None after `seconds`."""
    deadline = time.monotonic() + seconds
    while True:
        found = await check()
        if found is not None or time.monotonic() >= deadline:
            return found
        await asyncio.sleep(POLL_SECONDS)


async def read_your_write(check: Callable[[], Awaitable[T | None]], seconds: float) -> T | None:
    """`poll` after a command's event is in the log: a read model that cannot be read (the
    database away) is "not projected yet", and the caller answers 202. Never a 503 here: that
    would tell the client the command did not happen, and a retry would do it twice."""
    try:
        return await poll(check, seconds)
    except UnavailableError as exc:
        log.warning("read-your-write skipped, the event is stored: %s", exc.message)
        return None


async def load_stream(ctx: Context, live_stream_id: str) -> StreamView | None:
    """The stream for a command, with a short grace for a just-created stream."""
    grace = min(NOT_FOUND_GRACE_SECONDS, ctx.settings.projection_wait_seconds)
    return await poll(lambda: find_stream(ctx.store, live_stream_id), grace)


async def _append(ctx: Context, payload: BaseModel, live_stream_id: str) -> Envelope:
    event = new_event(payload, key=live_stream_id, clock=ctx.clock, ids=ctx.ids)
    await ctx.events.append(ctx.topics.livestream_events, event)
    return event


async def _until(
    ctx: Context, live_stream_id: str, user_id: str, done: Callable[[StreamView], bool]
) -> tuple[StreamView, Dto] | None:
    """Read-your-writes: the stream once the read model shows `done`, None if not in time."""

    async def check() -> tuple[StreamView, Dto] | None:
        found = await find_stream_dto(ctx.store, live_stream_id, user_id)
        return found if found is not None and done(found[0]) else None

    return await read_your_write(check, ctx.settings.projection_wait_seconds)


async def create(ctx: Context, user: User, body: Mapping[str, Any]) -> tuple[str, Dto | None]:
    """The new stream's id and its DTO (None if the read model did not show it in time)."""
    live_stream_id = str(ObjectId())
    creator = UserProfile.model_validate(user.profile())  # the token's claims, seed-shaped
    payload = commands.validate_create(body, live_stream_id=live_stream_id, creator=creator, now=ctx.clock())
    await _append(ctx, payload, live_stream_id)
    found = await _until(ctx, live_stream_id, user.id, lambda view: True)
    return live_stream_id, found[1] if found is not None else None


async def transition(
    ctx: Context,
    user: User,
    live_stream_id: str,
    check: Callable[[StreamView | None, str, str], object],
    payload: PayloadFor,
    reached: Callable[[StreamView], bool],
) -> Dto | None:
    """A creator-only lifecycle command: check it, append its event; the fresh DTO once the
    read model shows `reached` (None if it does not in time)."""
    check(await load_stream(ctx, live_stream_id), user.id, live_stream_id)
    await _append(ctx, payload(live_stream_id, ctx.clock()), live_stream_id)
    found = await _until(ctx, live_stream_id, user.id, reached)
    return found[1] if found is not None else None


async def delete(ctx: Context, user: User, live_stream_id: str) -> StreamView | None:
    """Soft-delete (creator only); the deleted stream's view, None if not projected in time."""
    commands.check_delete(await load_stream(ctx, live_stream_id), user.id, live_stream_id)
    await _append(
        ctx,
        StreamDeleted(live_stream_id=live_stream_id, deleted_at=ctx.clock(), deleted_by=user.id),
        live_stream_id,
    )
    found = await _until(ctx, live_stream_id, user.id, lambda view: view.deleted)
    return found[0] if found is not None else None


async def check_joinable(ctx: Context, live_stream_id: str) -> StreamView:
    """The stream if it can be joined (an anonymous socket joins its room, writing no event)."""
    return commands.check_join(await load_stream(ctx, live_stream_id), live_stream_id)


async def join(
    ctx: Context, user: User, live_stream_id: str, channel: JoinChannel
) -> tuple[Role, ParticipantJoined]:
    """Check the stream can be joined, append participant.joined; (role, the event's payload)."""
    role = (await check_joinable(ctx, live_stream_id)).role_for(user.id)
    joined = ParticipantJoined(
        live_stream_id=live_stream_id, user_id=user.id, role=role, channel=channel, joined_at=ctx.clock()
    )
    await _append(ctx, joined, live_stream_id)
    return role, joined


async def joined_projected(ctx: Context, user: User, live_stream_id: str, role: Role) -> bool:
    """Whether the user's history shows the join in time. A repeated join changes nothing the
    lists show, so a participation with this role (or a better one) is enough."""

    async def projected() -> Role | None:
        seen = await participation_role(ctx.store, user.id, live_stream_id)
        return seen if seen is not None and ROLE_RANK[seen] >= ROLE_RANK[role] else None

    return await read_your_write(projected, ctx.settings.projection_wait_seconds) is not None
