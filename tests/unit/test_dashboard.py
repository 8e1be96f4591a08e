"""docs/grafana/streamproc.json: built by docs/grafana/build.py (no drift), shaped as Grafana's
dashboard model (Grafana's own generated models load it; a JSON Schema of what Grafana needs to
place and query every panel), and every query names metrics this code exports."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path
from typing import Any

import pytest
from grafana_foundation_sdk.models.dashboard import Dashboard
from jsonschema import Draft202012Validator
from prometheus_client import REGISTRY

import gateway.metrics
import projections.metrics
import streams.metrics
import streams.netflix.metrics

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
BOARD_PATH = ROOT / "docs" / "grafana" / "streamproc.json"
BOARD: dict[str, Any] = json.loads(BOARD_PATH.read_text())
OUR_MODULES = (gateway.metrics, projections.metrics, streams.metrics, streams.netflix.metrics)

GRID = {
    "type": "object",
    "required": ["h", "w", "x", "y"],
    "properties": {
        "h": {"type": "integer", "minimum": 1},
        "w": {"type": "integer", "minimum": 1, "maximum": 24},
        "x": {"type": "integer", "minimum": 0, "maximum": 23},
        "y": {"type": "integer", "minimum": 0},
    },
}
TARGET = {
    "type": "object",
    "required": ["refId", "expr", "datasource"],
    "properties": {
        "refId": {"type": "string", "pattern": "^[A-Z]$"},
        "expr": {"type": "string", "minLength": 1},
        "datasource": {"const": {"type": "prometheus", "uid": "${datasource}"}},
    },
}
SCHEMA = {
    "type": "object",
    "required": ["title", "uid", "schemaVersion", "panels", "templating", "time"],
    "properties": {
        "title": {"type": "string", "minLength": 1},
        "uid": {"type": "string", "pattern": "^[a-zA-Z0-9_-]{1,40}$"},
        "schemaVersion": {"type": "integer", "minimum": 36},
        "time": {"type": "object", "required": ["from", "to"]},
        "templating": {
            "type": "object",
            "required": ["list"],
            "properties": {
                "list": {"type": "array", "items": {"type": "object", "required": ["name", "type"]}}
            },
        },
        "panels": {
            "type": "array",
            "minItems": 1,
            "items": {
                "oneOf": [
                    {
                        "type": "object",
                        "required": ["type", "title", "gridPos"],
                        "properties": {"type": {"const": "row"}, "gridPos": GRID},
                    },
                    {
                        "type": "object",
                        "required": ["type", "title", "gridPos", "targets", "datasource"],
                        "properties": {
                            "type": {"enum": ["timeseries", "stat"]},
                            "gridPos": GRID,
                            "targets": {"type": "array", "minItems": 1, "items": TARGET},
                        },
                    },
                ]
            },
        },
    },
}


def panels() -> list[dict[str, Any]]:
    return [p for p in BOARD["panels"] if p["type"] != "row"]


def test_the_committed_dashboard_is_what_build_py_makes() -> None:
    spec = importlib.util.spec_from_file_location("grafana_build", ROOT / "docs" / "grafana" / "build.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.render() == BOARD_PATH.read_text(), "stale: run .venv/bin/python docs/grafana/build.py"


def test_the_dashboard_has_grafanas_shape() -> None:
    Draft202012Validator(SCHEMA).validate(BOARD)
    loaded = Dashboard.from_json(BOARD)  # Grafana's generated dashboard model
    assert loaded.title == "streamproc" and loaded.panels is not None
    assert len(loaded.panels) == len(BOARD["panels"])
    assert [v["name"] for v in BOARD["templating"]["list"]] == ["datasource"]
    # panels do not overlap and stay inside the 24-column grid
    taken: set[tuple[int, int]] = set()
    for p in BOARD["panels"]:
        g = p["gridPos"]
        assert g["x"] + g["w"] <= 24, p["title"]
        cells = {(x, y) for x in range(g["x"], g["x"] + g["w"]) for y in range(g["y"], g["y"] + g["h"])}
        assert not cells & taken, f"{p['title']} overlaps another panel"
        taken |= cells
    refs = [[t["refId"] for t in p["targets"]] for p in panels()]
    assert all(len(r) == len(set(r)) for r in refs)


def exported_names() -> set[str]:
    """Every sample name the processes can expose: ours, and the default process/Python collectors."""
    names: set[str] = set()
    for family in REGISTRY.collect():
        names.add(family.name)
        if family.type == "counter":
            names |= {family.name + "_total", family.name + "_created"}
        if family.type == "histogram":
            names |= {family.name + s for s in ("_bucket", "_sum", "_count", "_created")}
    return names


METRIC = re.compile(r"\b((?:streamproc|process|python)_[a-z0-9_]+)\b")


def test_every_query_names_a_metric_that_exists() -> None:
    known = exported_names()
    used: set[str] = set()
    for p in panels():
        for t in p["targets"]:
            found = set(METRIC.findall(t["expr"]))
            assert found, (p["title"], t["expr"])
            assert found <= known, (p["title"], sorted(found - known))
            used |= found
    # and every metric of ours is on the dashboard somewhere
    ours = {
        name
        for module in OUR_MODULES
        for value in vars(module).values()
        if hasattr(value, "_name") and hasattr(value, "_type")
        for name in [value._name + ("_total" if value._type == "counter" else "")]
    }
    histograms = {n for n in ours if n + "_bucket" in known}
    missing = {n for n in ours - used if not (n in histograms and n + "_bucket" in used)}
    assert not missing, f"metrics no panel shows: {sorted(missing)}"
