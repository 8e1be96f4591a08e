"""Prometheus metrics of the Netflix title jobs and of the upstream fetches (the worker's)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

# From 5 ms (a cache hit) to two minutes (a job queued behind others, retries with backoff).
_JOB_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)

JOBS_FINISHED = Counter(
    "streamproc_jobs_finished_total",
    "Jobs that ended, by outcome (completed, failed), source (cache, database, netflix; none "
    "when failed) and error code (none when completed).",
    ["outcome", "source", "code"],
)
JOB_STEP_SECONDS = Histogram(
    "streamproc_job_step_duration_seconds",
    "Time from a job's previous step to this step (step code reached), in the worker.",
    ["step"],
    buckets=_JOB_BUCKETS,
)
JOB_DURATION_SECONDS = Histogram(
    "streamproc_job_duration_seconds",
    "Time from the POST (the request's occurredAt) to the job's terminal event, queueing included.",
    ["outcome", "source"],
    buckets=_JOB_BUCKETS,
)
UPSTREAM_FETCHES = Counter(
    "streamproc_upstream_fetches_total",
    "HTTP fetches of Netflix title pages, by result: the status code, or timeout, network_error, "
    "redirect_refused, too_large.",
    ["status"],
)
UPSTREAM_RETRIES = Counter(
    "streamproc_upstream_fetch_retries_total",
    "Fetch attempts retried, by the reason of the failed attempt (status code, timeout, network_error).",
    ["reason"],
)
UPSTREAM_FETCH_SECONDS = Histogram(
    "streamproc_upstream_fetch_duration_seconds",
    "Duration of one upstream fetch attempt (headers and body).",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
UPSTREAM_IN_FLIGHT = Gauge(
    "streamproc_upstream_fetches_in_flight",
    "Upstream fetches in flight in this worker (capped by SCRAPE_MAX_CONCURRENT_FETCHES).",
)
UPSTREAM_THROTTLED = Counter(
    "streamproc_upstream_throttled_total",
    "Fetches that had to wait before going out, by reason (concurrency, rate, retry_after).",
    ["reason"],
)
UPSTREAM_THROTTLE_SECONDS = Counter(
    "streamproc_upstream_throttle_seconds_total",
    "Seconds fetches spent waiting for the politeness limits, by reason.",
    ["reason"],
)
UPSTREAM_PAUSES = Counter(
    "streamproc_upstream_pauses_total",
    "Pauses of every fetch after an upstream 429 with Retry-After.",
)
UPSTREAM_CIRCUIT_OPEN = Gauge(
    "streamproc_upstream_circuit_open",
    "1 while the upstream circuit breaker is open (fetches fail fast), else 0.",
)
UPSTREAM_CIRCUIT_OPENED = Counter(
    "streamproc_upstream_circuit_opened_total",
    "Times the upstream circuit breaker opened after repeated 403s or 429s.",
)
UPSTREAM_REJECTED = Counter(
    "streamproc_upstream_fetches_rejected_total",
    "Fetches not sent because the circuit breaker was open.",
)
