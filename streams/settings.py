"""One frozen, typed Settings object read from the environment (read only in entrypoints)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from streams.errors import ErrorCode, ValidationError

DEV_API_KEY = "dev-api-key"
DEV_JWT_SECRET = "dev-jwt-secret-change-me"  # noqa: S105 - a documented development default


class SettingsError(ValidationError):
    """An environment variable has a value that cannot be used."""


def _csv(value: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in value.split(",") if part.strip())


def _int(env: Mapping[str, str], name: str, default: int, *, minimum: int = 0) -> int:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(
            f"{name} must be an integer, got {raw!r}", code=ErrorCode.VALIDATION_ERROR
        ) from None
    if value < minimum:
        raise SettingsError(f"{name} must be >= {minimum}, got {value}")
    return value


def _float(env: Mapping[str, str], name: str, default: float, *, minimum: float = 0.0) -> float:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a number, got {raw!r}") from None
    if value < minimum:
        raise SettingsError(f"{name} must be >= {minimum}, got {value}")
    return value


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
    jwt_algorithms: tuple[str, ...] = ("HS256",)
    cors_origins: tuple[str, ...] = ("*",)
    host: str = "0.0.0.0"  # noqa: S104 - a server binds all interfaces by default, as the seed's
    port: int = 3000
    # Every topic name, the Faust app id and consumer groups get this prefix (test isolation,
    # several deployments on one cluster).
    topic_prefix: str = ""
    topic_partitions: int = 1
    app_id: str = "streamproc"
    faust_datadir: str | None = None  # default: a directory under the system temp dir
    # Netflix jobs
    cache_ttl_seconds: float = 6 * 3600.0
    title_stale_after_seconds: float = 7 * 24 * 3600.0
    scrape_timeout_seconds: float = 10.0
    scrape_max_attempts: int = 3
    scrape_backoff_seconds: float = 0.5
    job_wait_timeout_seconds: float = 30.0
    accept_language: str = "en-US,en;q=0.9"
    # Read-your-writes: how long a command waits for its projection before answering 202
    projection_wait_seconds: float = 5.0
    # Live projections fold what is ready, up to this many records or this long, in one write
    projection_batch_max: int = 1000
    projection_batch_seconds: float = 0.01
    # A database outage during a batch: retry the whole batch this long, then stop the worker
    projection_retry_seconds: float = 60.0

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Read the documented environment variables; unknown ones are ignored."""
        env = os.environ if env is None else env
        d = cls()
        keys = _csv(env.get("API_KEYS", "")) or tuple(d.api_keys)
        public_key = env.get("JWT_PUBLIC_KEY") or None
        if public_key is None and env.get("JWT_PUBLIC_KEY_FILE"):
            try:
                with open(env["JWT_PUBLIC_KEY_FILE"], encoding="utf-8") as fh:
                    public_key = fh.read()
            except OSError as exc:
                raise SettingsError(f"JWT_PUBLIC_KEY_FILE cannot be read: {exc}") from exc
        algorithms = ("RS256",) if public_key else ("HS256",)
        settings = cls(
            kafka_bootstrap_servers=env.get("KAFKA_BOOTSTRAP_SERVERS") or d.kafka_bootstrap_servers,
            mongodb_uri=env.get("MONGODB_URI") or d.mongodb_uri,
            mongodb_database=env.get("MONGODB_DATABASE") or d.mongodb_database,
            netflix_base_url=(env.get("NETFLIX_BASE_URL") or d.netflix_base_url).rstrip("/"),
            api_keys=frozenset(keys),
            jwt_secret=env.get("JWT_SECRET") or d.jwt_secret,
            jwt_public_key=public_key,
            jwt_algorithms=algorithms,
            cors_origins=_csv(env.get("CORS_ORIGINS", "")) or d.cors_origins,
            host=env.get("HOST") or d.host,
            port=_int(env, "PORT", d.port, minimum=0),
            topic_prefix=env.get("TOPIC_PREFIX", d.topic_prefix),
            topic_partitions=_int(env, "TOPIC_PARTITIONS", d.topic_partitions, minimum=1),
            app_id=env.get("APP_ID") or d.app_id,
            faust_datadir=env.get("FAUST_DATADIR") or None,
            cache_ttl_seconds=_float(env, "CACHE_TTL_SECONDS", d.cache_ttl_seconds),
            title_stale_after_seconds=_float(env, "TITLE_STALE_AFTER_SECONDS", d.title_stale_after_seconds),
            scrape_timeout_seconds=_float(env, "SCRAPE_TIMEOUT_SECONDS", d.scrape_timeout_seconds),
            scrape_max_attempts=_int(env, "SCRAPE_MAX_ATTEMPTS", d.scrape_max_attempts, minimum=1),
            scrape_backoff_seconds=_float(env, "SCRAPE_BACKOFF_SECONDS", d.scrape_backoff_seconds),
            job_wait_timeout_seconds=_float(env, "JOB_WAIT_TIMEOUT_SECONDS", d.job_wait_timeout_seconds),
            accept_language=env.get("ACCEPT_LANGUAGE") or d.accept_language,
            projection_wait_seconds=_float(env, "PROJECTION_WAIT_SECONDS", d.projection_wait_seconds),
            projection_batch_max=_int(env, "PROJECTION_BATCH_MAX", d.projection_batch_max, minimum=1),
            projection_batch_seconds=_float(env, "PROJECTION_BATCH_SECONDS", d.projection_batch_seconds,
                                            minimum=0.001),
            projection_retry_seconds=_float(env, "PROJECTION_RETRY_SECONDS", d.projection_retry_seconds),
        )
        return replace(settings, **overrides) if overrides else settings

    def to_env(self) -> dict[str, str]:
        """The environment that reproduces these settings in a child process."""
        env = {
            "KAFKA_BOOTSTRAP_SERVERS": self.kafka_bootstrap_servers,
            "MONGODB_URI": self.mongodb_uri,
            "MONGODB_DATABASE": self.mongodb_database,
            "NETFLIX_BASE_URL": self.netflix_base_url,
            "API_KEYS": ",".join(sorted(self.api_keys)),
            "JWT_SECRET": self.jwt_secret,
            "CORS_ORIGINS": ",".join(self.cors_origins),
            "HOST": self.host,
            "PORT": str(self.port),
            "TOPIC_PREFIX": self.topic_prefix,
            "TOPIC_PARTITIONS": str(self.topic_partitions),
            "APP_ID": self.app_id,
            "CACHE_TTL_SECONDS": repr(self.cache_ttl_seconds),
            "TITLE_STALE_AFTER_SECONDS": repr(self.title_stale_after_seconds),
            "SCRAPE_TIMEOUT_SECONDS": repr(self.scrape_timeout_seconds),
            "SCRAPE_MAX_ATTEMPTS": str(self.scrape_max_attempts),
            "SCRAPE_BACKOFF_SECONDS": repr(self.scrape_backoff_seconds),
            "JOB_WAIT_TIMEOUT_SECONDS": repr(self.job_wait_timeout_seconds),
            "ACCEPT_LANGUAGE": self.accept_language,
            "PROJECTION_WAIT_SECONDS": repr(self.projection_wait_seconds),
            "PROJECTION_BATCH_MAX": str(self.projection_batch_max),
            "PROJECTION_BATCH_SECONDS": repr(self.projection_batch_seconds),
            "PROJECTION_RETRY_SECONDS": repr(self.projection_retry_seconds),
        }
        if self.jwt_public_key:
            env["JWT_PUBLIC_KEY"] = self.jwt_public_key
        if self.faust_datadir:
            env["FAUST_DATADIR"] = self.faust_datadir
        return env
