"""pymongo's errors become ours once: what a retry can fix is UNAVAILABLE, the rest internal."""

from __future__ import annotations

import pytest
from prometheus_client import REGISTRY
from pymongo.errors import AutoReconnect, BulkWriteError, OperationFailure

from projections.metrics import DATABASE_ERRORS
from projections.store import translate
from streams.errors import ErrorCode

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    "exc",
    [
        AutoReconnect("primary went away"),
        OperationFailure("not primary", code=10107),
        OperationFailure("interrupted at shutdown", code=11600),
        BulkWriteError({"writeErrors": [{"index": 0, "code": 11602, "errmsg": "stepdown"}]}),
        BulkWriteError({"writeErrors": [], "writeConcernErrors": [{"code": 64, "errmsg": "wtimeout"}]}),
    ],
    ids=["reconnect", "not-primary", "shutdown", "bulk-stepdown", "write-concern"],
)
def test_what_a_retry_can_fix_is_unavailable(exc: Exception) -> None:
    error = translate(exc, "write x")  # type: ignore[arg-type]
    assert error.code is ErrorCode.UNAVAILABLE and error.retryable


@pytest.mark.parametrize(
    "exc",
    [
        OperationFailure("bad query", code=2),
        BulkWriteError({"writeErrors": [{"index": 0, "code": 121, "errmsg": "validation"}]}),
    ],
    ids=["bad-value", "bulk-validation"],
)
def test_what_a_retry_cannot_fix_is_internal(exc: Exception) -> None:
    error = translate(exc, "write x")  # type: ignore[arg-type]
    assert error.code is ErrorCode.INTERNAL_ERROR and not error.retryable


@pytest.mark.parametrize(
    ("exc", "kind"),
    [
        (AutoReconnect("primary went away"), "unreachable"),
        (OperationFailure("not primary", code=10107), "transient"),
        (OperationFailure("bad query", code=2), "other"),
    ],
    ids=["unreachable", "transient", "other"],
)
def test_each_translated_error_is_counted_by_kind(exc: Exception, kind: str) -> None:
    DATABASE_ERRORS.labels(kind)  # the series exists from 0
    before = REGISTRY.get_sample_value("streamproc_database_errors_total", {"kind": kind})
    assert before is not None
    translate(exc, "read x")  # type: ignore[arg-type]
    assert REGISTRY.get_sample_value("streamproc_database_errors_total", {"kind": kind}) == before + 1
