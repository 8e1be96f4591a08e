"""Fetching Netflix title pages over HTTP (httpx): retries, redirect policy and error mapping.

httpx exceptions end here: every failure leaves as ScrapeError with a job error code —
  403 -> SCRAPE_ERROR "Failed to fetch Netflix page: 403" (blocked; never retried)
  404/410 -> TITLE_NOT_FOUND (never retried)
  429/5xx -> retried with backoff, then SCRAPE_ERROR "Failed to fetch Netflix page: <status>"
    (with a Politeness, a 429's Retry-After pauses every fetch of the worker, this job's retry too)
  the politeness circuit breaker open -> SCRAPE_ERROR "Netflix fetches paused after ..." (no request)
  timeouts -> retried, then TIMEOUT; connection errors -> retried, then SCRAPE_ERROR
  a redirect off the base host or away from this title's page -> SCRAPE_ERROR (not followed)
  a body over MAX_BODY_BYTES -> SCRAPE_ERROR
"""

from __future__ import annotations

import asyncio
import contextvars
import email.utils
import logging
import random
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from types import TracebackType

import httpx

from streams.errors import ErrorCode, ScrapeError
from streams.events.netflix import TitleData
from streams.netflix.metrics import UPSTREAM_FETCH_SECONDS, UPSTREAM_FETCHES, UPSTREAM_RETRIES
from streams.netflix.parse import parse_title_page
from streams.netflix.politeness import Outcome, Politeness
from streams.netflix.urls import TitleRef, build_fetch_url, canonical_url

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 5 * 1024 * 1024
MAX_REDIRECTS = 5
MAX_RETRY_AFTER_SECONDS = 30.0
USER_AGENT = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36"
)
_NOT_FOUND_STATUSES = frozenset({404, 410})
_REDIRECT_PATH = re.compile(r"/(?:[a-z]{2}(?:-[a-z]{2})?/)?title/(?P<id>[0-9]{1,12})/?")
# The title being fetched, for the redirect check in the request hook (a per-task value, so
# concurrent fetches on one client each see their own).
_current_title_id: contextvars.ContextVar[str] = contextvars.ContextVar("netflix_title_id")

Sleep = Callable[[float], Awaitable[object]]


class _Retryable(Exception):
    """One attempt failed in a way another attempt may fix; `reason` labels the retry metric."""

    def __init__(
        self,
        error: ScrapeError,
        reason: str,
        retry_after: float | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(error.message)
        self.error = error
        self.reason = reason
        self.retry_after = retry_after
        self.status = status


class _RedirectRefused(ScrapeError):
    """A redirect off the base host or away from the title (raised by the request hook)."""


class _TooLarge(ScrapeError):
    """A body over MAX_BODY_BYTES."""


@asynccontextmanager
async def _no_gate() -> AsyncIterator[Outcome]:
    yield Outcome()


class NetflixFetcher:
    """Fetches and scrapes title pages from `base_url` (www.netflix.com, or a test server)."""

    def __init__(
        self,
        base_url: str,
        *,
        timeout_seconds: float = 10.0,
        max_attempts: int = 3,
        backoff_seconds: float = 0.5,
        accept_language: str = "en-US,en;q=0.9",
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Sleep = asyncio.sleep,
        politeness: Politeness | None = None,
        max_retry_after_seconds: float = MAX_RETRY_AFTER_SECONDS,
    ) -> None:
        """`politeness`: the worker's shared limits around every attempt (None: no limits, and a
        Retry-After is honoured by the job alone, as the fetcher's own tests want)."""
        base = httpx.URL(base_url.rstrip("/"))
        if base.scheme not in ("http", "https") or not base.host or base.path not in ("", "/"):
            raise ValueError(f"base_url must be http(s)://host[:port], got {base_url!r}")
        if max_attempts < 1:
            raise ValueError("max_attempts must be >= 1")
        self._base_url = str(base).rstrip("/")
        self._origin = (base.scheme, base.host, base.port)
        self._timeout_seconds = timeout_seconds
        self._max_attempts = max_attempts
        self._backoff_seconds = backoff_seconds
        self._sleep = sleep
        self._politeness = politeness
        self._max_retry_after = max_retry_after_seconds
        self._random = random.Random()
        self._client = httpx.AsyncClient(
            headers={
                "User-Agent": USER_AGENT,
                "Accept": "text/html,application/xhtml+xml;q=0.9,*/*;q=0.8",
                "Accept-Language": accept_language,
            },
            timeout=httpx.Timeout(timeout_seconds),
            limits=httpx.Limits(max_connections=20, max_keepalive_connections=10),
            follow_redirects=True,
            max_redirects=MAX_REDIRECTS,
            transport=transport,
            event_hooks={"request": [self._check_request]},
        )

    async def __aenter__(self) -> NetflixFetcher:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._client.aclose()

    async def scrape(self, ref: TitleRef) -> TitleData:
        """Fetch and parse one title; ScrapeError (SCRAPE_ERROR, TITLE_NOT_FOUND, ...) if not."""
        body = await self.fetch(ref)
        started = time.perf_counter()
        title = parse_title_page(body, country=ref.key_country, title_id=ref.title_id, url=canonical_url(ref))
        log.debug("netflix.parse key=%s ms=%.1f", ref.key, (time.perf_counter() - started) * 1000)
        return title

    async def fetch(self, ref: TitleRef) -> bytes:
        """The page body of `ref`, after bounded retries on 429/5xx, timeouts and network errors."""
        url = build_fetch_url(self._base_url, ref)
        token = _current_title_id.set(ref.title_id)
        try:
            for attempt in range(1, self._max_attempts + 1):
                try:
                    return await self._attempt(url, ref, attempt)
                except _Retryable as retry:
                    if attempt == self._max_attempts:
                        log.warning(
                            "netflix.fetch gave_up key=%s attempts=%d code=%s reason=%s",
                            ref.key,
                            attempt,
                            retry.error.code.value,
                            retry.error.message,
                        )
                        raise retry.error from retry.__cause__
                    UPSTREAM_RETRIES.labels(retry.reason).inc()
                    delay = self._delay(attempt, retry)
                    log.info(
                        "netflix.fetch retry key=%s attempt=%d delay=%.2f reason=%s",
                        ref.key,
                        attempt,
                        delay,
                        retry.error.message,
                    )
                    await self._sleep(delay)
            raise AssertionError("unreachable: the last attempt returns or raises")
        finally:
            _current_title_id.reset(token)

    def _gate(self) -> AbstractAsyncContextManager[Outcome]:
        return self._politeness.attempt() if self._politeness is not None else _no_gate()

    async def _attempt(self, url: str, ref: TitleRef, attempt: int) -> bytes:
        # The gate may wait (cap, rate, a 429's pause) or refuse at once (breaker open: a
        # ScrapeError that is not retried, so the job fails fast and says why).
        async with self._gate() as outcome:
            started = time.perf_counter()
            result: str | None = "error"  # the fetch metric's label; None: cancelled, not counted
            try:
                body = await self._send(url, ref, attempt, outcome, started)
                result = str(outcome.answered)
                return body
            except _Retryable as retry:
                result = str(retry.status) if retry.status is not None else retry.reason
                raise
            except _TooLarge:
                result = "too_large"
                raise
            except _RedirectRefused:
                result = "redirect_refused"
                raise
            except ScrapeError:
                result = str(outcome.answered) if outcome.answered is not None else "error"
                raise
            except asyncio.CancelledError:
                result = None
                raise
            finally:
                if result is not None:
                    UPSTREAM_FETCHES.labels(result).inc()
                    UPSTREAM_FETCH_SECONDS.observe(time.perf_counter() - started)

    async def _send(self, url: str, ref: TitleRef, attempt: int, outcome: Outcome, started: float) -> bytes:
        try:
            # An overall deadline on top of httpx's per-phase timeouts: a server that drips
            # bytes slowly never trips a read timeout.
            async with asyncio.timeout(self._timeout_seconds * 3):
                async with self._client.stream("GET", url) as response:
                    status = response.status_code
                    log.info(
                        "netflix.fetch key=%s attempt=%d status=%d ms=%.0f",
                        ref.key,
                        attempt,
                        status,
                        (time.perf_counter() - started) * 1000,
                    )
                    retry_after = _retry_after(response.headers.get("Retry-After"))
                    outcome.status(status, retry_after if status == 429 else None)
                    self._check_status(response, ref, retry_after)
                    return await self._read_capped(response)
        except (httpx.TimeoutException, TimeoutError) as exc:
            error = ScrapeError(
                f"Timed out fetching Netflix page after {self._timeout_seconds:g}s",
                code=ErrorCode.TIMEOUT,
            )
            raise _Retryable(error, "timeout") from exc
        except (httpx.NetworkError, httpx.RemoteProtocolError) as exc:
            error = ScrapeError(f"Failed to fetch Netflix page: {type(exc).__name__}")
            raise _Retryable(error, "network_error") from exc
        except httpx.TooManyRedirects as exc:
            raise _RedirectRefused("Failed to fetch Netflix page: too many redirects") from exc
        except httpx.HTTPError as exc:
            raise ScrapeError(f"Failed to fetch Netflix page: {type(exc).__name__}") from exc

    def _check_status(self, response: httpx.Response, ref: TitleRef, retry_after: float | None) -> None:
        status = response.status_code
        if status == 200:
            return
        if status in _NOT_FOUND_STATUSES:
            raise ScrapeError(
                f"Netflix title {ref.title_id} not found ({status})", code=ErrorCode.TITLE_NOT_FOUND
            )
        error = ScrapeError(f"Failed to fetch Netflix page: {status}")
        if status == 429 or 500 <= status < 600:
            raise _Retryable(error, str(status), retry_after, status)
        raise error  # 403 (blocked), other 4xx, a redirect without a Location, 2xx other than 200

    async def _read_capped(self, response: httpx.Response) -> bytes:
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
            raise _TooLarge(f"Netflix page is larger than {MAX_BODY_BYTES} bytes")
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            if size > MAX_BODY_BYTES:
                raise _TooLarge(f"Netflix page is larger than {MAX_BODY_BYTES} bytes")
            chunks.append(chunk)
        return b"".join(chunks)

    async def _check_request(self, request: httpx.Request) -> None:
        """Every request, redirects included, stays on the base host and on this title's page."""
        url = request.url
        if (url.scheme, url.host, url.port) != self._origin:
            log.warning("netflix.fetch redirect_refused host=%s", url.host)
            raise _RedirectRefused(f"Failed to fetch Netflix page: redirected to another host ({url.host})")
        match = _REDIRECT_PATH.fullmatch(url.path)
        if match is None or match["id"] != _current_title_id.get(None):
            log.warning("netflix.fetch redirect_refused path=%s", url.path)
            raise _RedirectRefused(
                f"Failed to fetch Netflix page: redirected away from the title ({url.path})"
            )

    def _delay(self, attempt: int, retry: _Retryable) -> float:
        """Exponential backoff with up to 10% jitter; a server's Retry-After wins, capped. A 429's
        Retry-After is the Politeness's to wait for (it pauses every fetch, this retry's too)."""
        delay = self._backoff_seconds * 2.0 ** (attempt - 1)
        delay += self._random.uniform(0, delay * 0.1)
        paused_by_gate = self._politeness is not None and retry.status == 429
        if retry.retry_after is not None and not paused_by_gate:
            delay = max(delay, min(retry.retry_after, self._max_retry_after))
        return delay


def _retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date); None if unusable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())
