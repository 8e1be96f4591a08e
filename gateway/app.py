"""create_app(settings): routes, CORS, Socket.IO, and the start-up/clean-up of dependencies."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import socketio
from aiohttp import web

from gateway import openapi
from gateway.auth import ApiKeys, TokenVerifier
from gateway.context import CTX, Context
from gateway.eventlog import EventLog
from gateway.http import devtoken, health, livestream, metrics, netflix, webapp
from gateway.http.logcontext import log_context
from gateway.http.metrics import metrics_middleware
from gateway.ratelimit import JOB_LIMITER_KEY, KeyedLimiter
from gateway.realtime.jobs import JobFanout, register_job_handlers
from gateway.realtime.limits import ConnectionLimits
from gateway.realtime.livestream import register_livestream_namespaces
from gateway.realtime.sessions import RecoveringServer, Sessions
from gateway.responses import CLOCK_KEY, MAX_BODY_KEY, Handler, error_middleware, from_error, quiet_bad_http
from projections.queries import MongoStore, projection_topics
from streams.admin import ensure_deployment_topics
from streams.errors import AppError, ErrorCode
from streams.lag import GroupLagMonitor
from streams.settings import Settings
from streams.topics import TopicNames

log = logging.getLogger(__name__)

SIO_KEY: web.AppKey[socketio.AsyncServer] = web.AppKey("sio", socketio.AsyncServer)


# The seed's production CORS config: these methods, credentials, and an allowlist of origins.
CORS_METHODS = "GET, POST"
CORS_HEADERS = "Content-Type, Authorization, X-API-Key"


def _same_origin(request: web.Request, origin: str) -> bool:
    """A page the gateway served itself (its host as the client asked for it; the scheme is
    not compared, a TLS-terminating proxy in front changes it)."""
    return urlsplit(origin).netloc == request.host


def cors_middleware(origins: tuple[str, ...]) -> object:
    """CORS for REST and Socket.IO alike (engine.io's own handling is off). With `*` any origin
    may read, without credentials; with an allowlist an allowed origin is echoed with
    credentials, and a request from any other origin (preflight, REST, polling or WebSocket)
    is refused with 403 `CORS_ORIGIN_NOT_ALLOWED`."""
    allow_any = "*" in origins
    allowed = frozenset(origins)

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        origin = request.headers.get("Origin")
        if origin is None:
            return await handler(request)
        if not (allow_any or origin in allowed):
            if _same_origin(request, origin):
                return await handler(request)
            error = AppError(
                f"origin {origin} is not allowed (CORS_ORIGINS)", code=ErrorCode.CORS_ORIGIN_NOT_ALLOWED
            )
            refused = from_error(error, request)
            refused.headers["Vary"] = "Origin"
            return refused
        if request.method == "OPTIONS" and "Access-Control-Request-Method" in request.headers:
            response: web.StreamResponse = web.Response(status=204)
            response.headers["Access-Control-Allow-Methods"] = CORS_METHODS
            response.headers["Access-Control-Allow-Headers"] = CORS_HEADERS
            response.headers["Access-Control-Max-Age"] = "600"
        else:
            response = await handler(request)
        if response.prepared:  # a WebSocket: the handshake is done, and CORS is not for it
            return response
        response.headers["Access-Control-Allow-Origin"] = "*" if allow_any else origin
        if not allow_any:
            response.headers["Access-Control-Allow-Credentials"] = "true"
            response.headers["Vary"] = "Origin"
        return response

    return middleware


def worker_group_monitor(settings: Settings, topics: TopicNames) -> GroupLagMonitor:
    """The worker consumer group's lag on every topic it consumes, and each read model's."""
    return GroupLagMonitor(
        settings.kafka_bootstrap_servers,
        group=settings.topic_prefix + settings.app_id,  # Faust's group id is its app id
        topics=(topics.scrape_requests, topics.job_events, topics.titles, topics.livestream_events),
        projections={name: topics.name(topic) for name, topic in projection_topics().items()},
        poll_seconds=settings.lag_poll_seconds,
    )


def create_app(settings: Settings, *, context: Context | None = None) -> web.Application:
    """The gateway; `context` lets tests inject a clock or ids (defaults come from settings)."""
    ctx = context or Context(
        settings=settings,
        events=EventLog(settings.kafka_bootstrap_servers),
        store=MongoStore(settings.mongodb_uri, settings.mongodb_database),
        topics=TopicNames(settings.topic_prefix),
        api_keys=ApiKeys(settings.api_keys),
        tokens=TokenVerifier(settings),
    )
    sessions = Sessions()
    sio = RecoveringServer(
        sessions,
        async_mode="aiohttp",
        cors_allowed_origins=[],  # off: cors_middleware answers for /socket.io/ as for REST
        logger=False,
        engineio_logger=False,
    )
    app = web.Application(
        middlewares=[
            log_context,
            metrics_middleware,
            cors_middleware(settings.cors_origins),  # type: ignore[list-item]
            error_middleware,
        ],
        client_max_size=settings.max_body_bytes,
    )
    quiet_bad_http()
    app[CTX] = ctx
    app[SIO_KEY] = sio
    app[CLOCK_KEY] = ctx.clock
    app[MAX_BODY_KEY] = settings.max_body_bytes
    app[JOB_LIMITER_KEY] = KeyedLimiter(
        "job_create", settings.job_rate_limit_per_second, settings.job_rate_limit_burst
    )
    limits = ConnectionLimits(settings.max_sockets_per_ip, settings.trusted_proxies)
    sio.attach(app, socketio_path="socket.io")
    app.add_routes(health.routes())
    app.add_routes(metrics.routes())
    app.add_routes(openapi.routes())
    app.add_routes(netflix.routes())
    app.add_routes(livestream.routes())
    app.add_routes(devtoken.routes(settings))
    app.add_routes(webapp.routes(settings))  # last: its catch-all serves what nothing else matched
    ctx.lag = worker_group_monitor(settings, ctx.topics)
    ctx.jobs = JobFanout(
        sio,
        settings.kafka_bootstrap_servers,
        ctx.topics.job_events,
        ctx.store,
        sessions,
        max_subscriptions=settings.max_subscriptions_per_socket,
    )
    register_job_handlers(sio, ctx.jobs, limits)
    register_livestream_namespaces(sio, ctx, limits)
    app.cleanup_ctx.append(_lifecycle)
    return app


async def _lifecycle(app: web.Application) -> AsyncIterator[None]:
    ctx = app[CTX]
    await ensure_deployment_topics(ctx.settings)
    await ctx.events.start()
    await ctx.job_fanout.start()
    if ctx.lag is not None:
        await ctx.lag.start()
    log.info("gateway started topics_prefix=%r", ctx.settings.topic_prefix)
    try:
        yield
    finally:
        if ctx.lag is not None:
            await ctx.lag.stop()
        await ctx.job_fanout.stop()
        await ctx.events.stop()
        await ctx.store.close()
