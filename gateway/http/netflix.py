"""REST for Netflix title jobs: POST /api/getinfo/async, POST /api/getinfo, GET /api/jobs/{jobId}."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from gateway.context import CTX, Context
from gateway.realtime.jobs import TrackedJob
from gateway.responses import fail, ok, read_json_object
from projections.queries import get_job
from projections.store import Doc
from streams.errors import HTTP_STATUS, ErrorCode, ValidationError
from streams.events import Envelope, format_time, new_event
from streams.events.netflix import JobCompleted, JobCreated, JobFailed, ScrapeRequested
from streams.netflix.urls import parse_title_url


async def _start_job(request: web.Request) -> tuple[Context, str]:
    ctx = request.app[CTX]
    ctx.api_keys.check(request.headers.get("X-API-Key"))
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
        key=job_id, sequence=1, correlation_id=job_id, clock=ctx.clock, ids=ctx.ids,
    )
    requested = new_event(
        ScrapeRequested(job_id=job_id, url=url, country=country, title_id=ref.title_id,
                        requested_at=ctx.clock()),
        key=ref.key, correlation_id=job_id, causation_id=created.id, clock=ctx.clock, ids=ctx.ids,
    )
    # job.created first: the job exists in the log before anyone works on it.
    await ctx.events.append(ctx.topics.job_events, created)
    ctx.job_fanout.note_created(created)
    await ctx.events.append(ctx.topics.scrape_requests, requested)
    return ctx, job_id


async def getinfo_async(request: web.Request) -> web.Response:
    _, job_id = await _start_job(request)
    return ok({"jobId": job_id, "status": "pending", "progress": 0}, status=202, request=request)


def _state_from_events(job: TrackedJob) -> dict[str, Any]:
    events: list[Envelope] = job.ordered()
    first, last = events[0], events[-1]
    data: Any = last.data
    state: dict[str, Any] = {
        "jobId": last.key,
        "status": data.status.value,
        "progress": data.progress,
        "step": data.step,
        "stepCode": data.step_code.value,
        "source": data.source if isinstance(data, JobCompleted) else None,
        "data": data.data.model_dump(mode="json", by_alias=True) if isinstance(data, JobCompleted) else None,
        "error": data.error.model_dump(mode="json") if isinstance(data, JobFailed) else None,
        "createdAt": format_time(first.occurred_at),
        "updatedAt": format_time(last.occurred_at),
        "sequence": last.sequence or 0,
    }
    if isinstance(first.data, JobCreated):
        state.update(url=first.data.url, country=first.data.country, titleId=first.data.title_id)
    return state


def _state_from_document(doc: Doc) -> dict[str, Any]:
    return {
        "jobId": doc["jobId"],
        "status": doc["status"],
        "progress": doc["progress"],
        "step": doc.get("step"),
        "stepCode": doc.get("stepCode"),
        "source": doc.get("source"),
        "data": doc.get("result"),
        "error": doc.get("error"),
        "createdAt": doc.get("createdAt"),
        "updatedAt": doc.get("updatedAt"),
        "sequence": doc.get("sequence", 0),
        "url": doc.get("url"),
        "country": doc.get("country"),
        "titleId": doc.get("titleId"),
    }


async def job_state(ctx: Context, job_id: str) -> dict[str, Any] | None:
    """The newest of what the read model says and what this process has seen itself."""
    doc = await get_job(ctx.store, job_id)
    tracked = ctx.job_fanout.tracked(job_id)
    candidates = []
    if doc is not None:
        candidates.append(_state_from_document(doc))
    if tracked is not None:
        candidates.append(_state_from_events(tracked))
    if not candidates:
        return None
    best = max(candidates, key=lambda s: s["sequence"])
    best.pop("sequence")
    return best


async def get_job_state(request: web.Request) -> web.Response:
    ctx = request.app[CTX]
    ctx.api_keys.check(request.headers.get("X-API-Key"))
    job_id = request.match_info["jobId"]
    state = await job_state(ctx, job_id)
    if state is None:
        return fail(404, ErrorCode.JOB_NOT_FOUND, [f"job {job_id} does not exist"], request=request)
    return ok(state, request=request)


async def getinfo(request: web.Request) -> web.Response:
    ctx, job_id = await _start_job(request)
    job = await ctx.job_fanout.wait_done(job_id, ctx.settings.job_wait_timeout_seconds)
    terminal = job.terminal if job is not None else None
    if terminal is None:
        return fail(504, ErrorCode.TIMEOUT,
                    [f"job {job_id} did not finish within {ctx.settings.job_wait_timeout_seconds:g} s; "
                     f"follow it at /api/jobs/{job_id}"],
                    data={"jobId": job_id}, request=request)
    data = terminal.data
    if isinstance(data, JobFailed):
        code = data.error.code
        status = HTTP_STATUS.get(ErrorCode(code), 502) if code in ErrorCode.__members__ else 502
        return fail(status, code, [data.error.message], data={"jobId": job_id}, request=request)
    assert isinstance(data, JobCompleted)  # noqa: S101
    return ok({"jobId": job_id, "source": data.source,
               **data.data.model_dump(mode="json", by_alias=True)}, request=request)


def routes() -> list[web.RouteDef]:
    return [
        web.post("/api/getinfo/async", getinfo_async),
        web.post("/api/getinfo", getinfo),
        web.get("/api/jobs/{jobId}", get_job_state),
    ]
