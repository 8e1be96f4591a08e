"""Validate real gateway responses against the OpenAPI document (jsonschema, draft 2020-12)."""

from __future__ import annotations

from typing import Any

from jsonschema import Draft202012Validator

from gateway.openapi import document

DOC = document()


def response_schema(method: str, path: str, status: int) -> dict[str, Any]:
    operation = DOC["paths"][path][method.lower()]
    documented = operation["responses"]
    assert str(status) in documented, f"{method} {path} answered {status}, documented: {sorted(documented)}"
    schema = documented[str(status)]["content"]["application/json"]["schema"]
    # `#/components/...` refs resolve against the root of the schema being checked.
    return {**schema, "components": DOC["components"]}


def check_response(method: str, path: str, status: int, body: Any) -> None:
    validator = Draft202012Validator(response_schema(method, path, status))
    errors = sorted(validator.iter_errors(body), key=lambda e: list(e.path))
    assert not errors, f"{method} {path} {status} does not match the document: " + "; ".join(
        f"{'/'.join(map(str, e.path)) or '<root>'}: {e.message}" for e in errors[:5]
    )
