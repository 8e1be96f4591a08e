"""`python -m gateway.openapi [--out FILE]`: writes the OpenAPI document the gateway serves."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from gateway.openapi import document


def render() -> str:
    """The document as GET /api/openapi.json serves it, indented, with a final newline."""
    return json.dumps(document(), indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m gateway.openapi",
        description="Print the gateway's OpenAPI 3.1 document (the one served at "
        "GET /api/openapi.json); clients/js generates its REST types from it.",
    )
    parser.add_argument("--out", type=Path, help="write it to this file instead of stdout")
    args = parser.parse_args(argv)
    text = render()
    if args.out is None:
        sys.stdout.write(text)
    else:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text, encoding="utf-8")
    return 0
