"""Generate the public event catalog (docs/events.md) and JSON Schemas from the code's catalog.

`python -m streams.events.docs` rewrites them; `--check` exits 1 when the files drifted."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from streams import topics
from streams.events.catalog import CATALOG, EventCatalog, EventSpec

DOCS = Path(__file__).resolve().parents[2] / "docs"
SCHEMA_DIR = "schemas"

ENVELOPE_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": "envelope.json",
    "title": "Event envelope",
    "type": "object",
    "required": ["id", "type", "version", "occurredAt", "key", "data"],
    "properties": {
        "id": {"type": "string", "description": "unique event id (UUID)"},
        "type": {"type": "string", "description": "past-tense fact, e.g. job.completed"},
        "version": {"type": "integer", "minimum": 1, "description": "payload version of this type"},
        "occurredAt": {"type": "string", "format": "date-time", "description": "UTC, ms, Z"},
        "key": {"type": "string", "description": "the subject; also the Kafka record key"},
        "correlationId": {"type": ["string", "null"]},
        "causationId": {"type": ["string", "null"]},
        "sequence": {"type": "integer", "description": "per-subject position, when known"},
        "data": {"type": "object", "description": "the payload: see the (type, version) schema"},
    },
}

TOPIC_NOTES: dict[str, str] = {
    topics.SCRAPE_REQUESTS: "key: title key `<country>:<titleId>`; one partition owns a title",
    topics.JOB_EVENTS: "key: jobId; `sequence` is fixed per step (created 1, checking_cache 2, "
    "checking_database 3, scraping_netflix 4, saving_to_database 5; job.completed/job.failed 6): "
    "a shorter path skips numbers",
    topics.TITLES: "key: title key `<country>:<titleId>`",
    topics.LIVESTREAM_EVENTS: "key: liveStreamId (24-hex ObjectId)",
}


def schema_name(spec: EventSpec) -> str:
    return f"{spec.event_type}.v{spec.version}.json"


def payload_schema(spec: EventSpec) -> dict[str, Any]:
    schema = spec.model.model_json_schema(by_alias=True, mode="serialization")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": schema_name(spec),
        "title": f"{spec.event_type} v{spec.version}",
        "description": spec.description,
        **{k: v for k, v in schema.items() if k != "title"},
    }


def _fields(schema: dict[str, Any]) -> list[str]:
    required = set(schema.get("required", []))
    out = []
    for name, prop in schema.get("properties", {}).items():
        kind = prop.get("type") or (
            "|".join(
                str(p.get("type") or p.get("$ref", "").rsplit("/", 1)[-1]) for p in prop.get("anyOf", [])
            )
            or prop.get("$ref", "").rsplit("/", 1)[-1]
            or "any"
        )
        if "enum" in prop:
            kind = " \\| ".join(f"`{v}`" for v in prop["enum"])
        out.append(f"`{name}`{'' if name in required else '?'} ({kind})")
    return out


def render_markdown(catalog: EventCatalog = CATALOG) -> str:
    lines = [
        "# Event catalog",
        "",
        "Generated from `streams/events/catalog.py` by `python -m streams.events.docs`; do not edit by",
        "hand (a test fails when this file and the code drift). Every record value is the JSON",
        f"envelope in [`{SCHEMA_DIR}/envelope.json`]({SCHEMA_DIR}/envelope.json); "
        "`data` follows the schema of its",
        "(type, version). Old versions are upcast on read; writers write only the latest.",
        "Undecodable or invalid records go to `<topic>.dlq` with `x-error-code`/`x-error-message` headers.",
        "",
        "| topic | key and ordering |",
        "| --- | --- |",
    ]
    lines += [f"| `{t}` | {TOPIC_NOTES.get(t, '')} |" for t in topics.ALL_TOPICS]
    lines += [
        "",
        "| type | version | latest | topic | schema | fields |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for spec in catalog.specs():
        latest = "yes" if catalog.latest(spec.event_type) == spec.version else "no (upcast on read)"
        schema = payload_schema(spec)
        lines.append(
            f"| `{spec.event_type}` | {spec.version} | {latest} | `{spec.topic}` | "
            f"[{schema_name(spec)}]({SCHEMA_DIR}/{schema_name(spec)}) | {', '.join(_fields(schema))} |"
        )
    lines += ["", "## Descriptions", ""]
    lines += [f"- `{s.event_type}` v{s.version}: {s.description}" for s in catalog.specs()]
    return "\n".join(lines) + "\n"


def expected_files(catalog: EventCatalog = CATALOG) -> dict[str, str]:
    """Relative path under docs/ -> content."""
    files = {"events.md": render_markdown(catalog)}
    files[f"{SCHEMA_DIR}/envelope.json"] = json.dumps(ENVELOPE_SCHEMA, indent=2) + "\n"
    for spec in catalog.specs():
        files[f"{SCHEMA_DIR}/{schema_name(spec)}"] = (
            json.dumps(payload_schema(spec), indent=2, ensure_ascii=False) + "\n"
        )
    return files


def drift(docs: Path = DOCS) -> list[str]:
    problems = []
    expected = expected_files()
    for rel, content in expected.items():
        path = docs / rel
        if not path.exists():
            problems.append(f"missing {rel}")
        elif path.read_text(encoding="utf-8") != content:
            problems.append(f"stale {rel}")
    for path in (docs / SCHEMA_DIR).glob("*.json"):
        if f"{SCHEMA_DIR}/{path.name}" not in expected:
            problems.append(f"orphan {SCHEMA_DIR}/{path.name}")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m streams.events.docs", description=__doc__)
    parser.add_argument("--check", action="store_true", help="report drift instead of writing")
    args = parser.parse_args(argv)
    if args.check:
        problems = drift()
        for p in problems:
            print(p, file=sys.stderr)
        return 1 if problems else 0
    (DOCS / SCHEMA_DIR).mkdir(parents=True, exist_ok=True)
    for rel, content in expected_files().items():
        (DOCS / rel).write_text(content, encoding="utf-8")
    print(f"wrote {len(expected_files())} files under {DOCS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
