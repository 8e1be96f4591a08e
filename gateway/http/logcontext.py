"""The log context of one HTTP request: a fresh scope per request with its request id, and the
job or live stream its path names (streams/logs.py puts them on every line logged meanwhile)."""

from __future__ import annotations

import re
import uuid

from aiohttp import web

from gateway.responses import Handler
from streams import logs

# Only a well-formed id goes into the context: a path segment is the client's text.
_JOB_ID = re.compile(r"[0-9A-Za-z_-]{1,64}")
_STREAM_ID = re.compile(r"[0-9a-f]{24}")
_STREAM_PATH = "/api/v1/live-stream/"


def _path_ids(request: web.Request) -> tuple[str | None, str | None]:
    match_info = request.match_info
    job_id = match_info.get("jobId")
    stream_id = match_info.get("id") if request.path.startswith(_STREAM_PATH) else None
    return (
        job_id if job_id is not None and _JOB_ID.fullmatch(job_id) else None,
        stream_id if stream_id is not None and _STREAM_ID.fullmatch(stream_id) else None,
    )


@web.middleware
async def log_context(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Outermost, so the error middleware's lines carry the context too. aiohttp runs each
    request in a task of its own, so what is bound here (and what a handler learns later: a new
    job's or stream's id, bound in gateway/eventlog.py when it appends the event) ends with the
    request; the scope starts it from a clean slate whatever context the server task had."""
    job_id, stream_id = _path_ids(request)
    with logs.scope(requestId=uuid.uuid4().hex[:16], jobId=job_id, liveStreamId=stream_id):
        return await handler(request)
