"""GET /healthz (the process answers) and GET /readyz (it can do its work: Kafka and the database
answer, the worker consumer group has a live member, the read models are not too far behind)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable

from aiohttp import web

from gateway.context import CTX, Context
from gateway.responses import ok
from streams.errors import AppError, UnavailableError
from streams.lag import GroupSnapshot

PROBE_SECONDS = 3.0


async def healthz(request: web.Request) -> web.Response:
    return ok({"status": "ok"}, request=request)


async def _probe(check: Awaitable[object]) -> str:
    try:
        await asyncio.wait_for(check, PROBE_SECONDS)
    except TimeoutError:
        return f"error: no answer within {PROBE_SECONDS:g} s"
    except AppError as exc:
        return f"error: {exc.message}"
    return "ok"


async def _group(ctx: Context) -> GroupSnapshot | str:
    """The worker group's latest snapshot (polled in the background), or a fresh one."""
    monitor = ctx.lag
    if monitor is None:
        return "error: the lag monitor is not running"
    snap = monitor.fresh(3 * ctx.settings.lag_poll_seconds)
    if snap is not None:
        return snap
    try:
        return await asyncio.wait_for(monitor.poll(), PROBE_SECONDS)
    except TimeoutError:
        return f"error: the consumer group did not answer within {PROBE_SECONDS:g} s"
    except ConnectionError as exc:
        return f"error: cannot read the consumer group: {exc}"


def _workers(snap: GroupSnapshot) -> str:
    if snap.members > 0:
        return "ok"
    return f"error: consumer group {snap.group} has no live members (state {snap.state}): no worker runs"


def _projections(ctx: Context, snap: GroupSnapshot) -> str:
    bound = ctx.settings.ready_max_projection_lag_seconds
    assert ctx.lag is not None
    behind = []
    for name, topic in ctx.lag.projections.items():
        events, seconds = snap.topic_lag(topic)
        if events and seconds > bound:
            behind.append(f"{name} is {seconds:.0f} s ({events} events) behind {topic}")
    if behind:
        return f"error: {'; '.join(behind)} (bound {bound:g} s)"
    return "ok"


async def readyz(request: web.Request) -> web.Response:
    ctx = request.app[CTX]
    settings = ctx.settings
    need_group = settings.ready_require_workers or settings.ready_max_projection_lag_seconds > 0
    kafka, database, group = await asyncio.gather(
        _probe(ctx.events.check()), _probe(ctx.store.ping()), _group(ctx) if need_group else _none()
    )
    checks = {"kafka": kafka, "database": database}
    if settings.ready_require_workers:
        checks["workers"] = group if isinstance(group, str) else _workers(group)
    if settings.ready_max_projection_lag_seconds > 0:
        checks["projections"] = group if isinstance(group, str) else _projections(ctx, group)
    failed = [name for name, state in checks.items() if state != "ok"]
    if failed:
        raise UnavailableError(
            "; ".join(f"{name} is not ready: {checks[name]}" for name in failed), details=dict(checks)
        )
    return ok(checks, request=request)


async def _none() -> str:
    return "ok"


def routes() -> list[web.RouteDef]:
    return [web.get("/healthz", healthz), web.get("/readyz", readyz)]
