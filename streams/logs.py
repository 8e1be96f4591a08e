"""Log output for both processes: one root handler, JSON lines or text, the job/stream context of
the event or request being handled on every record, and secrets redacted as a last resort.

The context lives in contextvars: bound around the handling of one event or request, it is on
every line logged meanwhile, by our code and by libraries, in that task and in the tasks it
starts (asyncio copies the context into a new task)."""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar, Token
from datetime import UTC, datetime
from typing import IO, Any, Protocol

FORMATS = ("text", "json")
LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"
REDACTED = "[redacted]"
# Libraries kept at INFO or above when LOG_LEVEL=DEBUG: at DEBUG they log every record they
# send (aiokafka: whole events) and every database command (pymongo: documents), i.e. user and
# page data, and thousands of lines a minute. LOG_LEVEL=DEBUG is for our own modules' lines.
LIBRARY_LOGGERS = ("aiokafka", "pymongo", "httpcore", "httpx", "mode", "faust", "kafka")

# The context fields, by their name on a JSON line (camelCase, as on every wire of ours).
FIELDS = ("jobId", "liveStreamId", "correlationId", "eventType", "requestId")
_VARS: dict[str, ContextVar[str | None]] = {name: ContextVar(name, default=None) for name in FIELDS}
# Keys a JSON line always has; a context field never takes one of these names.
_RESERVED = frozenset({"ts", "level", "logger", "msg", "exc", "stack"})


class _Event(Protocol):
    """What `event_fields` reads of an Envelope (duck-typed: this module imports no events)."""

    @property
    def type(self) -> str: ...

    @property
    def correlation_id(self) -> str | None: ...

    @property
    def data(self) -> Any: ...


def current() -> dict[str, str]:
    """The fields bound now (unset ones left out)."""
    out: dict[str, str] = {}
    for name, var in _VARS.items():
        value = var.get()
        if value is not None:
            out[name] = value
    return out


def _check(fields: Mapping[str, str | None]) -> None:
    unknown = set(fields) - set(_VARS)
    if unknown:
        raise ValueError(f"unknown log context field(s): {', '.join(sorted(unknown))}")


def bind(**fields: str | None) -> None:
    """Set fields for the rest of the current context (a request or a task); None leaves a
    field as it is. For code inside a scope that `bound`/`scope` resets afterwards."""
    _check(fields)
    for name, value in fields.items():
        if value is not None:
            _VARS[name].set(value)


@contextmanager
def bound(**fields: str | None) -> Iterator[None]:
    """These fields while the block runs, restored after; None leaves a field as it is."""
    _check(fields)
    tokens: list[tuple[ContextVar[str | None], Token[str | None]]] = []
    for name, value in fields.items():
        if value is not None:
            var = _VARS[name]
            tokens.append((var, var.set(value)))
    try:
        yield
    finally:
        for var, token in reversed(tokens):
            var.reset(token)


@contextmanager
def scope(**fields: str | None) -> Iterator[None]:
    """A fresh context for one unit of work (a request, a record): every field cleared, then
    these set; everything (also what `bind` sets inside) restored after. Needed where one task
    handles one thing after another (an agent or a consumer loop)."""
    _check(fields)
    tokens = [(var, var.set(fields.get(name))) for name, var in _VARS.items()]
    try:
        yield
    finally:
        for var, token in reversed(tokens):
            var.reset(token)


def event_fields(event: _Event) -> dict[str, str | None]:
    """The context of handling `event`: its job or live stream, its correlation id and type."""
    data = event.data
    job_id = getattr(data, "job_id", None)
    stream_id = getattr(data, "live_stream_id", None)
    return {
        "jobId": job_id if isinstance(job_id, str) else None,
        "liveStreamId": stream_id if isinstance(stream_id, str) else None,
        "correlationId": event.correlation_id,
        "eventType": event.type,
    }


class ContextFilter(logging.Filter):
    """Puts the bound fields on each record (`record.context`); a field passed explicitly with
    `extra={"jobId": ...}` wins. On the handler, so records of every logger get them."""

    def filter(self, record: logging.LogRecord) -> bool:
        context = current()
        for name in FIELDS:
            explicit = record.__dict__.get(name)
            if explicit is not None:
                context[name] = str(explicit)
        record.context = context
        return True


_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*")
# A configured secret shorter than this is not searched for: it would redact ordinary words.
MIN_SECRET_LENGTH = 6


class Redactor:
    """Replaces anything shaped like a JWT and every configured secret with `[redacted]`. A
    backstop only: the guarantee is that no log call is handed a token, key or page body."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        words = sorted({s for s in secrets if len(s) >= MIN_SECRET_LENGTH}, key=len, reverse=True)
        self._secrets = re.compile("|".join(map(re.escape, words))) if words else None

    def __call__(self, text: str) -> str:
        if "eyJ" in text:
            text = _JWT.sub(REDACTED, text)
        if self._secrets is not None:
            text = self._secrets.sub(REDACTED, text)
        return text


def format_ts(created: float) -> str:
    """RFC 3339, UTC, milliseconds, `Z` (as every time on our wires)."""
    value = datetime.fromtimestamp(created, UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def _context(record: logging.LogRecord) -> dict[str, str]:
    context = record.__dict__.get("context")
    return context if isinstance(context, dict) else {}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, msg, the context fields, exc (a traceback)."""

    def __init__(self, redact: Redactor | None = None) -> None:
        super().__init__()
        self._redact = redact or Redactor()

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": format_ts(record.created),
            "level": record.levelname,
            "logger": record.name,
            "msg": self._redact(record.getMessage()),
        }
        for name, value in _context(record).items():
            if name not in _RESERVED:
                line[name] = self._redact(value)
        if record.exc_info:
            record.exc_text = record.exc_text or self.formatException(record.exc_info)
        if record.exc_text:
            line["exc"] = self._redact(record.exc_text)
        if record.stack_info:
            line["stack"] = self._redact(self.formatStack(record.stack_info))
        # ensure_ascii: a line stays one line of ASCII whatever a message holds
        return json.dumps(line, ensure_ascii=True, default=str)


class TextFormatter(logging.Formatter):
    """Today's readable line, then the context as key=value."""

    def __init__(self, redact: Redactor | None = None) -> None:
        super().__init__(TEXT_FORMAT)
        self._redact = redact or Redactor()

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 - logging's name
        text = super().formatMessage(record)
        context = _context(record)
        if context:
            text += " " + " ".join(f"{name}={value}" for name, value in context.items())
        return text

    def format(self, record: logging.LogRecord) -> str:
        return self._redact(super().format(record))


def formatter(fmt: str, secrets: Iterable[str] = ()) -> logging.Formatter:
    if fmt not in FORMATS:
        raise ValueError(f"log format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    redact = Redactor(secrets)
    return JsonFormatter(redact) if fmt == "json" else TextFormatter(redact)


def configure(
    fmt: str = "text",
    level: str | int = "INFO",
    *,
    secrets: Iterable[str] = (),
    stream: IO[str] | None = None,
) -> logging.Handler:
    """Make one handler (to stderr) the root logger's only one, with our formatter and the
    context filter; warnings.warn goes through it too. Returns the handler."""
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(formatter(fmt, secrets))
    handler.addFilter(ContextFilter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper() if isinstance(level, str) else level)
    if root.level < logging.INFO:
        for name in LIBRARY_LOGGERS:
            library = logging.getLogger(name)
            if library.level == logging.NOTSET or library.level < logging.INFO:
                library.setLevel(logging.INFO)
    logging.captureWarnings(True)
    return handler
