"""Fetching Netflix title pages over HTTP (httpx): retries, redirect policy and error mapping.

httpx exceptions end here: every failure leaves as ScrapeError with a job error code —
  403 -> SCRAPE_ERROR "Failed to fetch Netflix page: 403" (blocked; never retried)
  404/410 -> TITLE_NOT_FOUND (never retried)
  429/5xx -> retried with backoff, then SCRAPE_ERROR "Failed to fetch Netflix page: <status>"
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
from collections.abc import Awaitable, Callable
from types import TracebackType

import httpx

from streams.errors import ErrorCode, ScrapeError
from streams.events.netflix import TitleData
from streams.netflix.parse import parse_title_page
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
    """One attempt failed in a way another attempt may fix."""

    def __init__(self, error: ScrapeError, retry_after: float | None = None) -> None:
        super().__init__(error.message)
        self.error = error
        self.retry_after = retry_after


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
    ) -> None:
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
                    delay = self._delay(attempt, retry.retry_after)
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

    async def _attempt(self, url: str, ref: TitleRef, attempt: int) -> bytes:
        started = time.perf_counter()
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
                    self._check_status(response, ref)
                    return await self._read_capped(response)
        except (httpx.TimeoutException, TimeoutError) as exc:
            error = ScrapeError(
                f"Timed out fetching Netflix page after {self._timeout_seconds:g}s",
                code=ErrorCode.TIMEOUT,
            )
            raise _Retryable(error) from exc
        except (httpx.NetworkError, httpx.RemoteProtocolError) as exc:
            error = ScrapeError(f"Failed to fetch Netflix page: {type(exc).__name__}")
            raise _Retryable(error) from exc
        except httpx.TooManyRedirects as exc:
            raise ScrapeError("Failed to fetch Netflix page: too many redirects") from exc
        except httpx.HTTPError as exc:
            raise ScrapeError(f"Failed to fetch Netflix page: {type(exc).__name__}") from exc

    def _check_status(self, response: httpx.Response, ref: TitleRef) -> None:
        status = response.status_code
        if status == 200:
            return
        if status in _NOT_FOUND_STATUSES:
            raise ScrapeError(
                f"Netflix title {ref.title_id} not found ({status})", code=ErrorCode.TITLE_NOT_FOUND
            )
        error = ScrapeError(f"Failed to fetch Netflix page: {status}")
        if status == 429 or 500 <= status < 600:
            raise _Retryable(error, _retry_after(response.headers.get("Retry-After")))
        raise error  # 403 (blocked), other 4xx, a redirect without a Location, 2xx other than 200

    async def _read_capped(self, response: httpx.Response) -> bytes:
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
            raise ScrapeError(f"Netflix page is larger than {MAX_BODY_BYTES} bytes")
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            if size > MAX_BODY_BYTES:
                raise ScrapeError(f"Netflix page is larger than {MAX_BODY_BYTES} bytes")
            chunks.append(chunk)
        return b"".join(chunks)

    async def _check_request(self, request: httpx.Request) -> None:
        """Every request, redirects included, stays on the base host and on this title's page."""
        url = request.url
        if (url.scheme, url.host, url.port) != self._origin:
            log.warning("netflix.fetch redirect_refused host=%s", url.host)
            raise ScrapeError(f"Failed to fetch Netflix page: redirected to another host ({url.host})")
        match = _REDIRECT_PATH.fullmatch(url.path)
        if match is None or match["id"] != _current_title_id.get(None):
            log.warning("netflix.fetch redirect_refused path=%s", url.path)
            raise ScrapeError(f"Failed to fetch Netflix page: redirected away from the title ({url.path})")

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        """Exponential backoff with up to 10% jitter; a server's Retry-After wins, capped."""
        delay = self._backoff_seconds * 2.0 ** (attempt - 1)
        delay += self._random.uniform(0, delay * 0.1)
        if retry_after is not None:
            delay = max(delay, min(retry_after, MAX_RETRY_AFTER_SECONDS))
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
