"""docs/events.md and docs/schemas/ are generated from the code's catalog and must not drift."""

from __future__ import annotations

import json

import pytest

from streams.events import docs
from streams.events.catalog import CATALOG, EventCatalog, EventSpec
from streams.events.netflix import JobCreated
from streams.events.upcasters import UPCASTERS

pytestmark = pytest.mark.unit


def test_docs_match_the_code() -> None:
    assert docs.drift() == [], "run `python -m streams.events.docs` and commit the result"


def test_a_field_added_in_code_only_is_drift() -> None:
    class JobCreatedPlus(JobCreated):
        priority: int = 0

    specs = [
        s
        if (s.event_type, s.version) != ("job.created", 1)
        else EventSpec(s.event_type, s.version, JobCreatedPlus, s.topic, s.description)
        for s in CATALOG.specs()
    ]
    changed = docs.expected_files(EventCatalog(specs, UPCASTERS))
    current = docs.expected_files()
    assert changed["schemas/job.created.v1.json"] != current["schemas/job.created.v1.json"]
    assert "`priority`?" in changed["events.md"]
    on_disk = (docs.DOCS / "schemas/job.created.v1.json").read_text(encoding="utf-8")
    assert changed["schemas/job.created.v1.json"] != on_disk


def test_every_example_record_validates_against_its_schema_fields() -> None:
    # Lightweight check without a JSON Schema engine: required fields of each schema are present.
    for spec in CATALOG.specs():
        schema = json.loads((docs.DOCS / "schemas" / docs.schema_name(spec)).read_text())
        example = json.loads(
            (
                docs.DOCS.parent / "tests/fixtures/events" / f"{spec.event_type}.v{spec.version}.json"
            ).read_text()
        )
        missing = set(schema.get("required", [])) - set(example["data"])
        assert not missing, f"{spec.event_type} v{spec.version} example misses {missing}"


def test_asyncapi_document_matches_the_code() -> None:
    from gateway import asyncapi

    on_disk = asyncapi.OUT.read_text(encoding="utf-8")
    assert on_disk == asyncapi.render(), "run `python -m gateway.asyncapi` and commit the result"
    doc = asyncapi.build()
    socket_events = {m["name"] for m in doc["components"]["messages"].values()}
    assert {
        "job:subscribe",
        "job:unsubscribe",
        "job:progress",
        "job:completed",
        "job:error",
        "joinStream",
    } <= socket_events
    kafka_types = {m["name"] for m in doc["components"]["messages"].values() if "x-version" in m}
    assert kafka_types == {s.event_type for s in CATALOG.specs()}
