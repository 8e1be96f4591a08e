"""`python -m gateway.openapi [--out FILE]` writes the document the gateway serves (clients/js
generates its REST types from it)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from gateway.openapi import document
from tests.support import REPO

pytestmark = pytest.mark.unit


def test_out_file_holds_the_served_document(tmp_path: Path) -> None:
    out = tmp_path / "nested" / "openapi.json"
    done = subprocess.run(
        [sys.executable, "-m", "gateway.openapi", "--out", str(out)],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""  # no runpy warning about the module being imported twice
    assert json.loads(out.read_text(encoding="utf-8")) == document()


def test_without_out_it_prints_the_document() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "gateway.openapi"], cwd=REPO, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == document()
    assert done.stdout.endswith("}\n")
