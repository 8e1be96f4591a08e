"""The project's error codes and exception family, shared by REST, Socket.IO, events and DLQ headers."""

from __future__ import annotations

from enum import StrEnum


class ErrorCode(StrEnum):
    """Machine-readable error codes; the same code travels on every wire."""

    # client errors
    VALIDATION_ERROR = "VALIDATION_ERROR"
    INVALID_URL = "INVALID_URL"
    INVALID_JSON = "INVALID_JSON"
    UNAUTHORIZED = "UNAUTHORIZED"
    TOKEN_EXPIRED = "TOKEN_EXPIRED"
    INVALID_TOKEN = "INVALID_TOKEN"
    FORBIDDEN = "FORBIDDEN"
    CORS_ORIGIN_NOT_ALLOWED = "CORS_ORIGIN_NOT_ALLOWED"
    NOT_FOUND = "NOT_FOUND"
    JOB_NOT_FOUND = "JOB_NOT_FOUND"
    STREAM_NOT_FOUND = "STREAM_NOT_FOUND"
    CONFLICT = "CONFLICT"
    METHOD_NOT_ALLOWED = "METHOD_NOT_ALLOWED"
    PAYLOAD_TOO_LARGE = "PAYLOAD_TOO_LARGE"
    # limits (README "Limits"): too much from one API key, one socket or one client address
    RATE_LIMITED = "RATE_LIMITED"
    TOO_MANY_SUBSCRIPTIONS = "TOO_MANY_SUBSCRIPTIONS"
    TOO_MANY_CONNECTIONS = "TOO_MANY_CONNECTIONS"
    # job failures (job:error, job.failed)
    SCRAPE_ERROR = "SCRAPE_ERROR"
    TITLE_NOT_FOUND = "TITLE_NOT_FOUND"
    PARSE_ERROR = "PARSE_ERROR"
    TIMEOUT = "TIMEOUT"
    # pipeline / infrastructure
    DECODE_ERROR = "DECODE_ERROR"
    UNKNOWN_EVENT = "UNKNOWN_EVENT"
    INVALID_EVENT = "INVALID_EVENT"
    UNAVAILABLE = "UNAVAILABLE"
    INTERNAL_ERROR = "INTERNAL_ERROR"


HTTP_STATUS: dict[ErrorCode, int] = {
    ErrorCode.VALIDATION_ERROR: 400,
    ErrorCode.INVALID_URL: 400,
    ErrorCode.INVALID_JSON: 400,
    ErrorCode.UNAUTHORIZED: 401,
    ErrorCode.TOKEN_EXPIRED: 401,
    ErrorCode.INVALID_TOKEN: 401,
    ErrorCode.FORBIDDEN: 403,
    ErrorCode.CORS_ORIGIN_NOT_ALLOWED: 403,
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.JOB_NOT_FOUND: 404,
    ErrorCode.STREAM_NOT_FOUND: 404,
    ErrorCode.METHOD_NOT_ALLOWED: 405,
    ErrorCode.CONFLICT: 409,
    ErrorCode.PAYLOAD_TOO_LARGE: 413,
    ErrorCode.RATE_LIMITED: 429,
    ErrorCode.TOO_MANY_SUBSCRIPTIONS: 429,
    ErrorCode.TOO_MANY_CONNECTIONS: 429,
    ErrorCode.SCRAPE_ERROR: 502,
    ErrorCode.TITLE_NOT_FOUND: 404,
    ErrorCode.PARSE_ERROR: 502,
    ErrorCode.TIMEOUT: 504,
    ErrorCode.DECODE_ERROR: 400,
    ErrorCode.UNKNOWN_EVENT: 400,
    ErrorCode.INVALID_EVENT: 400,
    ErrorCode.UNAVAILABLE: 503,
    ErrorCode.INTERNAL_ERROR: 500,
}

RETRYABLE: frozenset[ErrorCode] = frozenset({ErrorCode.UNAVAILABLE, ErrorCode.TIMEOUT})


class AppError(Exception):
    """An error with a code, a human message and the HTTP status it maps to."""

    default_code: ErrorCode = ErrorCode.INTERNAL_ERROR

    def __init__(
        self,
        message: str,
        *,
        code: ErrorCode | None = None,
        details: dict[str, object] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code or self.default_code
        self.details = details or {}

    @property
    def http_status(self) -> int:
        return HTTP_STATUS[self.code]

    @property
    def retryable(self) -> bool:
        return self.code in RETRYABLE

    def to_dict(self) -> dict[str, str]:
        return {"code": self.code.value, "message": self.message}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code.value!r}, message={self.message!r})"


class ValidationError(AppError):
    """Bad input from a client (400)."""

    default_code = ErrorCode.VALIDATION_ERROR


class AuthError(AppError):
    """Missing or bad credentials (401)."""

    default_code = ErrorCode.UNAUTHORIZED


class ForbiddenError(AppError):
    default_code = ErrorCode.FORBIDDEN


class NotFoundError(AppError):
    default_code = ErrorCode.NOT_FOUND


class ConflictError(AppError):
    default_code = ErrorCode.CONFLICT


class ScrapeError(AppError):
    """A Netflix title could not be scraped; `code` says why (SCRAPE_ERROR, TIMEOUT, ...)."""

    default_code = ErrorCode.SCRAPE_ERROR


class EventDecodeError(AppError):
    """A Kafka record is not a valid event envelope of a known (type, version)."""

    default_code = ErrorCode.DECODE_ERROR


class WriteConflictError(AppError):
    """Two writers raced on one document (a partition briefly owned twice during a rebalance):
    retryable, the loser refolds from fresh reads. Not a client's 409."""

    default_code = ErrorCode.CONFLICT

    @property
    def retryable(self) -> bool:
        return True


class UnavailableError(AppError):
    """A dependency (Kafka, the database) did not answer after bounded retries."""

    default_code = ErrorCode.UNAVAILABLE
