"""GET /healthz (the process answers) and GET /readyz (Kafka and the database answer)."""

from __future__ import annotations

import asyncio

from aiohttp import web

from gateway.context import CTX
from gateway.responses import ok
from streams.errors import AppError, UnavailableError


async def healthz(request: web.Request) -> web.Response:
    return ok({"status": "ok"}, request=request)


async def readyz(request: web.Request) -> web.Response:
    ctx = request.app[CTX]

    async def probe(check: object) -> str:
        try:
            await asyncio.wait_for(check, 3.0)  # type: ignore[arg-type]
        except TimeoutError:
            return "error: no answer within 3 s"
        except AppError as exc:
            return f"error: {exc.message}"
        return "ok"

    kafka, database = await asyncio.gather(probe(ctx.events.check()), probe(ctx.store.ping()))
    checks = {"kafka": kafka, "database": database}
    failed = [name for name, state in checks.items() if state != "ok"]
    if failed:
        raise UnavailableError(
            "; ".join(f"{name} is not ready: {checks[name]}" for name in failed), details=dict(checks)
        )
    return ok(checks, request=request)


def routes() -> list[web.RouteDef]:
    return [web.get("/healthz", healthz), web.get("/readyz", readyz)]
