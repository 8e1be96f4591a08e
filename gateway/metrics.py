"""Prometheus metrics of the gateway: HTTP, Socket.IO, the job-event tail, limits."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

HTTP_REQUESTS = Counter(
    "streamproc_http_requests_total",
    "HTTP requests answered, by method, route template (or 'unmatched') and status.",
    ["method", "route", "status"],
)
HTTP_SECONDS = Histogram(
    "streamproc_http_request_duration_seconds",
    "Time to answer an HTTP request, by method and route template.",
    ["method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
JOBS_CREATED = Counter(
    "streamproc_jobs_created_total",
    "Jobs created (job.created appended), by endpoint (async, sync).",
    ["endpoint"],
)
RATE_LIMITED = Counter(
    "streamproc_rate_limited_total",
    "Requests or connections refused by a limit, by limit "
    "(job_create, body_size, sockets_per_ip, subscriptions_per_socket).",
    ["limit"],
)
SOCKETIO_CONNECTIONS = Gauge(
    "streamproc_socketio_connections",
    "Socket.IO connections open on this gateway, by namespace.",
    ["namespace"],
)
SOCKETIO_ROOMS = Gauge(
    "streamproc_socketio_job_rooms",
    "Job rooms with at least one subscriber on this gateway.",
)
SOCKETIO_EMITS = Counter(
    "streamproc_socketio_emits_total",
    "Socket.IO events sent, by event name (one per recipient).",
    ["event"],
)
SOCKETIO_RECOVERIES = Counter(
    "streamproc_socketio_recoveries_total",
    "Connections that asked for connection state recovery, by outcome (recovered, not_recovered).",
    ["outcome"],
)
