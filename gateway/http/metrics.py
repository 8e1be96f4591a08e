"""GET /metrics (Prometheus text format) and the middleware that counts and times every request.

Labels stay bounded: the route is aiohttp's resource template (`/api/jobs/{jobId}`), never the
path a client sent; anything that matched no route is `unmatched`, Socket.IO's handshakes and
polls are `/socket.io/`, and the demo page's files are `/` (its catch-all).
"""

from __future__ import annotations

import time

from aiohttp import web
from prometheus_client import REGISTRY
from prometheus_client.exposition import choose_encoder

from gateway.metrics import HTTP_REQUESTS, HTTP_SECONDS
from gateway.responses import Handler

UNMATCHED = "unmatched"


def route_label(request: web.Request) -> str:
    """The bounded route label of a request."""
    route = request.match_info.route
    resource = route.resource
    if resource is None:  # aiohttp's own 404/405 system routes
        return UNMATCHED
    canonical = resource.canonical
    if canonical.startswith("/socket.io"):
        return "/socket.io/"
    if "{tail" in canonical:  # the web app's catch-all: every path a browser asks for
        return "/"
    return canonical


@web.middleware
async def metrics_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Outermost: it sees the status the client gets, error envelopes and CORS refusals included.
    A handler that raised anyway (only a client that went away) is counted as 499."""
    started = time.perf_counter()
    status = 499
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as exc:
        status = exc.status
        raise
    finally:
        route = route_label(request)
        HTTP_REQUESTS.labels(request.method, route, str(status)).inc()
        if status != 101:  # a WebSocket's handler returns when the socket closes: not a latency
            HTTP_SECONDS.labels(request.method, route).observe(time.perf_counter() - started)


async def metrics(request: web.Request) -> web.Response:
    """Everything in the default registry: ours, and the process and Python collectors; in the
    format the scraper asks for (Prometheus text, or OpenMetrics), as prometheus-client's own
    endpoint negotiates it."""
    encoder, content_type = choose_encoder(request.headers.get("Accept", ""))
    response = web.Response(body=encoder(REGISTRY))
    response.headers["Content-Type"] = content_type
    return response


def routes() -> list[web.RouteDef]:
    return [web.get("/metrics", metrics)]
