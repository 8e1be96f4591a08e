"""One frozen, typed Settings object read from the environment (read only in entrypoints)."""

from __future__ import annotations

import ipaddress
import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

DEV_API_KEY = "dev-api-key"
DEV_JWT_SECRET = "dev-jwt-secret-change-me"  # noqa: S105 - a documented development default


class SettingsError(Exception):
    """An environment variable has a value that cannot be used: the operator's to fix, so it
    is no AppError (nothing a client sent maps to it)."""


def _csv(value: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in value.split(",") if part.strip())


def _number(kind: Callable[[str], Any], minimum: float) -> Callable[[str, str], Any]:
    def parse(name: str, raw: str) -> Any:
        try:
            value = kind(raw)
        except ValueError:
            what = "an integer" if kind is int else "a number"
            raise SettingsError(f"{name} must be {what}, got {raw!r}") from None
        if not math.isfinite(value) or value < minimum:
            raise SettingsError(f"{name} must be a finite number >= {minimum:g}, got {raw!r}")
        return value

    return parse


def _text(name: str, raw: str) -> str:
    return raw


def _url(name: str, raw: str) -> str:
    return raw.rstrip("/")


def _set(name: str, raw: str) -> frozenset[str]:
    return frozenset(_csv(raw))


def _list(name: str, raw: str) -> tuple[str, ...]:
    return _csv(raw)


def _networks(name: str, raw: str) -> tuple[str, ...]:
    """Addresses or CIDR networks (`10.0.0.0/8`), checked here so a typo fails at start-up."""
    values = _csv(raw)
    for value in values:
        try:
            ipaddress.ip_network(value, strict=False)
        except ValueError:
            raise SettingsError(f"{name} must list IP addresses or networks, got {value!r}") from None
    return values


_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


def _bool(name: str, raw: str) -> bool:
    value = raw.strip().lower()
    if value in _TRUE | _FALSE:
        return value in _TRUE
    raise SettingsError(f"{name} must be one of 1/true/yes/on or 0/false/no/off, got {raw!r}")


def _choice(choices: tuple[str, ...], upper: bool = False) -> Callable[[str, str], str]:
    def parse(name: str, raw: str) -> str:
        value = raw.strip().upper() if upper else raw.strip().lower()
        if value not in choices:
            raise SettingsError(f"{name} must be one of {', '.join(choices)}, got {raw!r}")
        return value

    return parse


def _formatted(value: Any) -> str:
    if isinstance(value, frozenset):
        return ",".join(sorted(value))
    if isinstance(value, tuple):
        return ",".join(value)
    if isinstance(value, bool):
        return "1" if value else "0"
    return repr(value) if isinstance(value, float) else str(value)


@dataclass(frozen=True, slots=True)
class Var:
    """One environment variable: the field it sets and how its text is read."""

    env: str
    field: str
    parse: Callable[[str, str], Any] = _text
    keep_empty: bool = False  # an empty value is a value (TOPIC_PREFIX=""), not "unset"


_POSITIVE_INT = _number(int, 1)
_PORT = _number(int, 0)
_SECONDS = _number(float, 0.0)
_COUNT = _number(int, 0)

# The documented environment variables (README's configuration table), read and written from
# this one table. JWT_PUBLIC_KEY_FILE is the one extra: read into jwt_public_key.
VARS: tuple[Var, ...] = (
    Var("KAFKA_BOOTSTRAP_SERVERS", "kafka_bootstrap_servers"),
    Var("MONGODB_URI", "mongodb_uri"),
    Var("MONGODB_DATABASE", "mongodb_database"),
    Var("NETFLIX_BASE_URL", "netflix_base_url", _url),
    Var("API_KEYS", "api_keys", _set),
    Var("JWT_SECRET", "jwt_secret"),
    Var("JWT_PUBLIC_KEY", "jwt_public_key"),
    Var("CORS_ORIGINS", "cors_origins", _list),
    Var("HOST", "host"),
    Var("PORT", "port", _PORT),
    Var("TOPIC_PREFIX", "topic_prefix", keep_empty=True),
    Var("TOPIC_PARTITIONS", "topic_partitions", _POSITIVE_INT),
    Var("TOPIC_REPLICATION_FACTOR", "topic_replication_factor", _POSITIVE_INT),
    Var("JOB_EVENTS_RETENTION_HOURS", "job_events_retention_hours", _POSITIVE_INT),
    Var("APP_ID", "app_id"),
    Var("FAUST_DATADIR", "faust_datadir"),
    Var("CACHE_TTL_SECONDS", "cache_ttl_seconds", _SECONDS),
    Var("TITLE_STALE_AFTER_SECONDS", "title_stale_after_seconds", _SECONDS),
    Var("SCRAPE_TIMEOUT_SECONDS", "scrape_timeout_seconds", _SECONDS),
    Var("SCRAPE_MAX_ATTEMPTS", "scrape_max_attempts", _POSITIVE_INT),
    Var("SCRAPE_BACKOFF_SECONDS", "scrape_backoff_seconds", _SECONDS),
    Var("SCRAPE_CONCURRENCY", "scrape_concurrency", _POSITIVE_INT),
    Var("SCRAPE_MAX_CONCURRENT_FETCHES", "scrape_max_concurrent_fetches", _POSITIVE_INT),
    Var("SCRAPE_MAX_FETCHES_PER_SECOND", "scrape_max_fetches_per_second", _number(float, 0.0)),
    Var("SCRAPE_MAX_RETRY_AFTER_SECONDS", "scrape_max_retry_after_seconds", _SECONDS),
    Var("SCRAPE_BREAKER_THRESHOLD", "scrape_breaker_threshold", _number(int, 0)),
    Var("SCRAPE_BREAKER_OPEN_SECONDS", "scrape_breaker_open_seconds", _SECONDS),
    Var("JOB_WAIT_TIMEOUT_SECONDS", "job_wait_timeout_seconds", _SECONDS),
    Var("ACCEPT_LANGUAGE", "accept_language"),
    Var("PROJECTION_WAIT_SECONDS", "projection_wait_seconds", _SECONDS),
    Var("PROJECTION_BATCH_MAX", "projection_batch_max", _POSITIVE_INT),
    # 0 would make Faust's take_events wait for a full batch forever
    Var("PROJECTION_BATCH_SECONDS", "projection_batch_seconds", _number(float, 0.001)),
    Var("PROJECTION_RETRY_SECONDS", "projection_retry_seconds", _SECONDS),
    Var("WEB_DIST_DIR", "web_dist_dir"),
    Var("DEV_TOKEN_ENDPOINT", "dev_token_endpoint", _bool),
    # Operations (issue 13): metrics, lag, readiness
    Var("METRICS_PORT", "metrics_port", _PORT),
    Var("LAG_POLL_SECONDS", "lag_poll_seconds", _number(float, 0.1)),
    Var("READY_REQUIRE_WORKERS", "ready_require_workers", _bool),
    Var("READY_MAX_PROJECTION_LAG_SECONDS", "ready_max_projection_lag_seconds", _SECONDS),
    Var("LOG_FORMAT", "log_format", _choice(("text", "json"))),
    Var("LOG_LEVEL", "log_level", _choice(("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"), upper=True)),
    # limits (README "Limits"); 0 turns a limit off
    Var("JOB_RATE_LIMIT_PER_SECOND", "job_rate_limit_per_second", _SECONDS),
    Var("JOB_RATE_LIMIT_BURST", "job_rate_limit_burst", _COUNT),
    Var("MAX_BODY_BYTES", "max_body_bytes", _POSITIVE_INT),
    Var("MAX_SUBSCRIPTIONS_PER_SOCKET", "max_subscriptions_per_socket", _COUNT),
    Var("MAX_SOCKETS_PER_IP", "max_sockets_per_ip", _COUNT),
    Var("TRUSTED_PROXIES", "trusted_proxies", _networks, keep_empty=True),
)


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything the worker and the gateway are configured with. Defaults make `make run` work."""

    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    mongodb_uri: str = "mongodb://127.0.0.1:27017/"
    mongodb_database: str = "streamproc"
    netflix_base_url: str = "https://www.netflix.com"
    api_keys: frozenset[str] = field(default_factory=lambda: frozenset({DEV_API_KEY}))
    jwt_secret: str = DEV_JWT_SECRET
    jwt_public_key: str | None = None  # PEM; when set, RS256 tokens are verified with it
    cors_origins: tuple[str, ...] = ("*",)
    host: str = "0.0.0.0"  # noqa: S104 - a server binds all interfaces by default, as the seed's
    port: int = 3000
    # Every topic name, the Faust app id and consumer groups get this prefix (test isolation,
    # several deployments on one cluster).
    topic_prefix: str = ""
    # The most workers that can share each topic's work (docs/adr/0009-partitions.md). Fixed
    # when a topic is created: changing it later moves keys to other partitions.
    topic_partitions: int = 6
    # Replicas of every topic the project creates (Faust's changelog too); min.insync.replicas
    # is min(2, this). 1 suits the single devstack broker; a cluster wants 3.
    topic_replication_factor: int = 1
    # How long job events and scrape requests are kept (streams/topics.py TOPIC_CONFIGS).
    job_events_retention_hours: int = 7 * 24
    app_id: str = "streamproc"
    faust_datadir: str | None = None  # default: a directory under the system temp dir
    # Netflix jobs
    cache_ttl_seconds: float = 6 * 3600.0
    title_stale_after_seconds: float = 7 * 24 * 3600.0
    scrape_timeout_seconds: float = 10.0
    scrape_max_attempts: int = 3
    scrape_backoff_seconds: float = 0.5
    # Scrape jobs one worker runs at once (one title's requests still one at a time, ADR 0012)
    scrape_concurrency: int = 16
    # Politeness towards Netflix, per worker process (streams/netflix/politeness.py, ADR 0012):
    # upstream fetches in flight at once, and fetches per second (0: no rate limit; bursts of up
    # to one second's worth)
    scrape_max_concurrent_fetches: int = 4
    scrape_max_fetches_per_second: float = 5.0
    # A 429's Retry-After pauses every fetch of the worker for at most this long (a 503's delays
    # only its own job's retry, capped the same)
    scrape_max_retry_after_seconds: float = 30.0
    # After this many 403/429 answers in a row every fetch fails fast (SCRAPE_ERROR) for the open
    # period; then one probe decides (0: no circuit breaker)
    scrape_breaker_threshold: int = 5
    scrape_breaker_open_seconds: float = 30.0
    job_wait_timeout_seconds: float = 30.0
    accept_language: str = "en-US,en;q=0.9"
    # Read-your-writes: how long a command waits for its projection before answering 202
    projection_wait_seconds: float = 5.0
    # Live projections fold what is ready, up to this many records or this long, in one write
    projection_batch_max: int = 1000
    projection_batch_seconds: float = 0.01
    # A database outage during a batch: retry the whole batch this long, then stop the worker
    projection_retry_seconds: float = 60.0
    # The demo page's built files (Vite's output); None: the checkout's clients/web/dist
    web_dist_dir: str | None = None
    # POST /api/dev/token and GET /api/dev/config: development only, off unless asked for
    dev_token_endpoint: bool = False
    # The worker's Prometheus endpoint (http://HOST:METRICS_PORT/metrics); 0: a free port, logged.
    # The gateway serves /metrics on PORT.
    metrics_port: int = 0
    # How often consumer-group lag and members are read from the brokers (metrics and /readyz)
    lag_poll_seconds: float = 5.0
    # /readyz fails while the worker consumer group has no live member
    ready_require_workers: bool = True
    # /readyz fails while a read model is further behind its topic than this; 0: not checked
    ready_max_projection_lag_seconds: float = 60.0
    # Log lines of the worker and the gateway: readable `text`, or `json` (one object per line,
    # with the job/stream context); and the root level (streams/logs.py)
    log_format: str = "text"
    log_level: str = "INFO"
    # Limits, each per gateway process (N gateways allow N times as much). Job creation per API
    # key: a token bucket refilled at this rate (0: no limit) ...
    job_rate_limit_per_second: float = 20.0
    # ... holding this many tokens (0: one second's worth, at least 1): a client may post this
    # many jobs at once, then 20 a second
    job_rate_limit_burst: int = 100
    # The largest request body read (a JSON body; larger: 413 PAYLOAD_TOO_LARGE)
    max_body_bytes: int = 64 * 1024
    # Job rooms of unfinished jobs one socket may be in (0: no limit); rooms of finished jobs
    # are left to make room, so a long-lived client that never unsubscribes is not refused
    max_subscriptions_per_socket: int = 100
    # Socket.IO connections (each namespace counts) from one client address (0: no limit)
    max_sockets_per_ip: int = 256
    # Peers whose X-Forwarded-For is believed (nginx in front); the client address is the
    # nearest untrusted address in that header
    trusted_proxies: tuple[str, ...] = ("127.0.0.1", "::1")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Read the documented environment variables; unknown ones are ignored."""
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        for var in VARS:
            raw = env.get(var.env)
            if raw is None or (raw.strip() == "" and not var.keep_empty):
                continue
            values[var.field] = var.parse(var.env, raw)
        if not values.get("api_keys"):
            values.pop("api_keys", None)  # API_KEYS=" , " means the default, not no key at all
        if not values.get("cors_origins"):
            values.pop("cors_origins", None)
        if "jwt_public_key" not in values and env.get("JWT_PUBLIC_KEY_FILE"):
            try:
                with open(env["JWT_PUBLIC_KEY_FILE"], encoding="utf-8") as fh:
                    values["jwt_public_key"] = fh.read()
            except OSError as exc:
                raise SettingsError(f"JWT_PUBLIC_KEY_FILE cannot be read: {exc}") from exc
        return cls(**{**values, **overrides})

    def to_env(self) -> dict[str, str]:
        """The environment that reproduces these settings in a child process."""
        env: dict[str, str] = {}
        for var in VARS:
            value = getattr(self, var.field)
            if value is not None:
                env[var.env] = _formatted(value)
        return env
