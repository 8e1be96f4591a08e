"""The seed's BaseResponseDto on every REST answer, and the middleware that makes errors ours."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from gateway.metrics import RATE_LIMITED
from streams.errors import AppError, ErrorCode, ValidationError
from streams.events import format_time
from streams.events.envelope import utc_now

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
CLOCK_KEY: web.AppKey[Clock] = web.AppKey("clock", Callable)  # type: ignore[arg-type]
# The largest body `read_json_object` reads (MAX_BODY_BYTES); without it, DEFAULT_MAX_BODY_BYTES.
MAX_BODY_KEY: web.AppKey[int] = web.AppKey("max_body_bytes", int)
DEFAULT_MAX_BODY_BYTES = 64 * 1024


def _dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, default=_default, separators=(",", ":"))


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        if value.tzinfo is None:  # Mongo hands back naive UTC when not tz_aware
            value = value.replace(tzinfo=UTC)
        return format_time(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def _now(request: web.Request | None) -> datetime:
    if request is not None and CLOCK_KEY in request.app:
        return request.app[CLOCK_KEY]()
    return utc_now()


def ok(data: Any, *, status: int = 200, request: web.Request | None = None) -> web.Response:
    body = {
        "isSuccess": True,
        "statusCode": status,
        "data": data,
        "errors": [],
        "timestamp": format_time(_now(request)),
    }
    return web.json_response(body, status=status, dumps=_dumps)


def fail(
    status: int,
    code: ErrorCode | str,
    messages: list[str],
    *,
    data: Any = None,
    request: web.Request | None = None,
) -> web.Response:
    body = {
        "isSuccess": False,
        "statusCode": status,
        "code": str(code),
        "data": data,
        "errors": messages,
        "timestamp": format_time(_now(request)),
    }
    return web.json_response(body, status=status, dumps=_dumps)


def from_error(error: AppError, request: web.Request | None = None) -> web.Response:
    """An AppError's envelope: its details are the data; a validation error that names several
    problems lists each one in `errors`, so a client can show them field by field."""
    problems = error.details.get("problems")
    messages = [str(p) for p in problems] if isinstance(problems, list) else [error.message]
    response = fail(error.http_status, error.code, messages, data=error.details or None, request=request)
    retry = error.details.get("retryAfterSeconds")
    if isinstance(retry, int):  # a limit says when to come back (RATE_LIMITED)
        response.headers["Retry-After"] = str(retry)
    return response


_HTTP_CODES: dict[int, ErrorCode] = {
    400: ErrorCode.VALIDATION_ERROR,
    401: ErrorCode.UNAUTHORIZED,
    403: ErrorCode.FORBIDDEN,
    404: ErrorCode.NOT_FOUND,
    405: ErrorCode.METHOD_NOT_ALLOWED,
    413: ErrorCode.PAYLOAD_TOO_LARGE,
}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """AppError -> its status and code; aiohttp's own 4xx -> the same envelope; bugs -> a 500
    with no internals (and a log line), so no client ever sees a traceback."""
    try:
        return await handler(request)
    except AppError as exc:
        if exc.http_status >= 500:
            log.warning("request failed path=%s code=%s error=%s", request.path, exc.code, exc.message)
        return from_error(exc, request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        if exc.status == 413:  # aiohttp's own client_max_size check (request.read/post)
            RATE_LIMITED.labels(limit="body_size").inc()
        code = _HTTP_CODES.get(
            exc.status, ErrorCode.VALIDATION_ERROR if exc.status < 500 else ErrorCode.INTERNAL_ERROR
        )
        return fail(exc.status, code, [exc.reason or "request failed"], request=request)
    except Exception:
        log.exception("unhandled error path=%s", request.path)
        return fail(500, ErrorCode.INTERNAL_ERROR, ["internal error"], request=request)


def _too_large(max_bytes: int) -> AppError:
    RATE_LIMITED.labels(limit="body_size").inc()
    return AppError(
        f"body larger than {max_bytes} bytes (MAX_BODY_BYTES)",
        code=ErrorCode.PAYLOAD_TOO_LARGE,
        details={"maxBytes": max_bytes},
    )


async def read_body(request: web.Request, max_bytes: int) -> bytes:
    """At most `max_bytes` of the body: a larger one is refused by its Content-Length before a
    byte is read, or after `max_bytes + 1` bytes of a chunked one (never read whole)."""
    if request.content_length is not None and request.content_length > max_bytes:
        raise _too_large(max_bytes)
    raw = b""
    while len(raw) <= max_bytes:
        chunk = await request.content.read(max_bytes + 1 - len(raw))
        if not chunk:
            break
        raw += chunk
    if len(raw) > max_bytes:
        raise _too_large(max_bytes)
    return raw


async def read_json_object(request: web.Request, *, max_bytes: int | None = None) -> dict[str, Any]:
    """The body as a JSON object, or a 400 (413 when too large) that says what is wrong with it."""
    limit = max_bytes if max_bytes is not None else request.app.get(MAX_BODY_KEY, DEFAULT_MAX_BODY_BYTES)
    raw = await read_body(request, limit)
    if not raw.strip():
        raise ValidationError("request body is empty: send a JSON object", code=ErrorCode.INVALID_JSON)
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValidationError(f"request body is not valid JSON: {exc}", code=ErrorCode.INVALID_JSON) from exc
    except RecursionError as exc:  # `[[[[…` deeper than the parser's stack
        raise ValidationError("request body is nested too deeply", code=ErrorCode.INVALID_JSON) from exc
    if not isinstance(body, dict):
        raise ValidationError("request body must be a JSON object", code=ErrorCode.INVALID_JSON)
    return body


class BadHttpOneLine(logging.Filter):
    """aiohttp answers a request it cannot parse (a NUL in a header, a bad request line) with
    400 itself, then logs the parser's exception with its traceback on `aiohttp.server`: a
    client's malformed HTTP is no bug of ours, so it becomes one line without the traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, HttpProcessingError):
            record.msg = f"{record.getMessage()}: {exc.code} {exc.message}".replace("%", "%%")
            record.args = ()
            record.exc_info = None
            record.exc_text = None
            record.levelno, record.levelname = logging.INFO, "INFO"
        return True


def quiet_bad_http() -> None:
    """Install BadHttpOneLine once (create_app may run several times in one process)."""
    server_log = logging.getLogger("aiohttp.server")
    if not any(isinstance(f, BadHttpOneLine) for f in server_log.filters):
        server_log.addFilter(BadHttpOneLine())
