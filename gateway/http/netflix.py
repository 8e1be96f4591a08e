"""REST for Netflix title jobs: POST /api/getinfo/async, POST /api/getinfo, GET /api/jobs/{jobId}."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from gateway.context import CTX, Context
from gateway.metrics import JOBS_CREATED
from gateway.ratelimit import job_limiter
from gateway.responses import ok, read_json_object
from projections.queries import fold_job, get_job, rest_state
from streams.errors import AppError, ErrorCode, NotFoundError, ScrapeError, ValidationError
from streams.events import new_event
from streams.events.netflix import JobCompleted, JobCreated, JobFailed, JobStatus, ScrapeRequested
from streams.netflix.urls import parse_title_url


async def _start_job(request: web.Request) -> tuple[Context, str]:
    ctx = request.app[CTX]
    api_key = request.headers.get("X-API-Key")
    ctx.api_keys.check(api_key)
    limiter = job_limiter(request)
    if limiter is not None and api_key:
        # After authentication, so only configured keys get a bucket; before the body is read,
        # so a refused request costs next to nothing. A bad request takes a token too.
        limiter.check(api_key)
    body = await read_json_object(request)
    url = body.get("url")
    if url is None:
        raise ValidationError("url is required", code=ErrorCode.INVALID_URL)
    if not isinstance(url, str):
        raise ValidationError("url must be a string", code=ErrorCode.INVALID_URL)
    ref = parse_title_url(url)
    country = ref.key_country
    job_id = ctx.ids()
    created = new_event(
        JobCreated(job_id=job_id, url=url, country=country, title_id=ref.title_id),
        key=job_id,
        sequence=1,
        correlation_id=job_id,
        clock=ctx.clock,
        ids=ctx.ids,
    )
    requested = new_event(
        ScrapeRequested(
            job_id=job_id, url=url, country=country, title_id=ref.title_id, requested_at=ctx.clock()
        ),
        key=ref.key,
        correlation_id=job_id,
        causation_id=created.id,
        clock=ctx.clock,
        ids=ctx.ids,
    )
    # Both sent before either is awaited: one round trip. job.created is handed to the producer
    # first; the 202 means both are stored (ADR 0002 says what a client can rely on).
    await ctx.events.append_all([(ctx.topics.job_events, created), (ctx.topics.scrape_requests, requested)])
    JOBS_CREATED.labels("async" if request.path.endswith("/async") else "sync").inc()
    # Known here at once, before it comes back from the log (a step the worker appended may
    # already be held, waiting for it).
    await ctx.job_fanout.publish(created)
    return ctx, job_id


async def getinfo_async(request: web.Request) -> web.Response:
    _, job_id = await _start_job(request)
    return ok(
        {"jobId": job_id, "status": JobStatus.PENDING.value, "progress": 0}, status=202, request=request
    )


async def job_state(ctx: Context, job_id: str) -> dict[str, Any] | None:
    """The newest of what the read model says and what this process has seen itself."""
    stored = await get_job(ctx.store, job_id)
    tracked = ctx.job_fanout.tracked(job_id)
    held = fold_job(tracked.ordered()) if tracked is not None else None
    # Both are folds of the same events; on a tie the read model's (listed first) wins.
    candidates = [doc for doc in (stored, held) if doc is not None]
    if not candidates:
        return None
    return rest_state(max(candidates, key=lambda doc: doc.get("sequence", 0)))


async def get_job_state(request: web.Request) -> web.Response:
    ctx = request.app[CTX]
    ctx.api_keys.check(request.headers.get("X-API-Key"))
    job_id = request.match_info["jobId"]
    state = await job_state(ctx, job_id)
    if state is None:
        raise NotFoundError(f"job {job_id} does not exist", code=ErrorCode.JOB_NOT_FOUND)
    return ok(state, request=request)


async def getinfo(request: web.Request) -> web.Response:
    ctx, job_id = await _start_job(request)
    job = await ctx.job_fanout.wait_done(job_id, ctx.settings.job_wait_timeout_seconds)
    terminal = job.terminal if job is not None else None
    if terminal is None:
        raise AppError(
            f"job {job_id} did not finish within {ctx.settings.job_wait_timeout_seconds:g} s; "
            f"follow it at /api/jobs/{job_id}",
            code=ErrorCode.TIMEOUT,
            details={"jobId": job_id},
        )
    data = terminal.data
    if isinstance(data, JobFailed):
        # A code this gateway does not know (a newer worker) is still a failed scrape: 502.
        known = data.error.code in ErrorCode.__members__
        raise ScrapeError(
            data.error.message, code=ErrorCode(data.error.code) if known else None, details={"jobId": job_id}
        )
    if not isinstance(data, JobCompleted):  # the terminal event is completed or failed
        raise TypeError(f"job {job_id} ended with {type(data).__name__}")
    return ok(
        {"jobId": job_id, "source": data.source, **data.data.model_dump(mode="json", by_alias=True)},
        request=request,
    )


def routes() -> list[web.RouteDef]:
    return [
        web.post("/api/getinfo/async", getinfo_async),
        web.post("/api/getinfo", getinfo),
        web.get("/api/jobs/{jobId}", get_job_state),
    ]
