"""The OpenAPI document lists exactly the gateway's routes, and its schemas are strict."""

from __future__ import annotations

import copy

import pytest
from jsonschema import Draft202012Validator

from gateway.app import create_app
from gateway.http import webapp
from gateway.openapi import document
from streams.settings import Settings
from tests.openapi_check import check_response

pytestmark = pytest.mark.unit


def app_routes() -> set[tuple[str, str]]:
    app = create_app(Settings())
    out = set()
    for route in app.router.routes():
        info = route.resource.get_info() if route.resource else {}
        path = info.get("path") or info.get("formatter")
        if route.method in ("HEAD", "OPTIONS", "*") or path is None or path.startswith("/socket.io"):
            continue
        if getattr(route.handler, "__module__", None) == webapp.__name__:
            continue  # the demo page (HTML), not part of the REST API
        out.add((route.method.lower(), path))
    return out


def test_every_route_is_documented_and_nothing_else() -> None:
    documented = {(method, path) for path, ops in document()["paths"].items() for method in ops}
    assert app_routes() == documented


def test_document_is_valid_openapi_3_1_shaped() -> None:
    doc = document()
    assert doc["openapi"] == "3.1.0"
    for schema in doc["components"]["schemas"].values():
        Draft202012Validator.check_schema(schema)
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            assert op["responses"], (method, path)


SAMPLE_JOB = {
    "isSuccess": True,
    "statusCode": 202,
    "errors": [],
    "timestamp": "2026-05-01T12:00:00.000Z",
    "data": {"jobId": "j", "status": "pending", "progress": 0},
}


def test_a_matching_response_passes() -> None:
    check_response("post", "/api/getinfo/async", 202, SAMPLE_JOB)


def test_a_field_added_in_code_only_fails_the_contract() -> None:
    body = copy.deepcopy(SAMPLE_JOB)
    body["data"]["priority"] = "high"
    with pytest.raises(AssertionError, match="priority"):
        check_response("post", "/api/getinfo/async", 202, body)


def test_an_undocumented_status_fails_the_contract() -> None:
    with pytest.raises(AssertionError, match="documented"):
        check_response("post", "/api/getinfo/async", 418, SAMPLE_JOB)
