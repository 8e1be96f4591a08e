"""Benchmark: parse_title_page on real-sized synthetic pages, beside bare lexbor parsing.

Run: .venv/bin/python bench/bench_parse.py [--runs 200] [--size 500000]
Timing only; never part of a test's pass/fail.
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

from selectolax.lexbor import LexborHTMLParser

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from anywhere in the repo

from streams.netflix.parse import parse_title_page  # noqa: E402
from tests.fakes import render_title_page  # noqa: E402

_JSON_LD = re.compile(r'<script type="application/ld\+json">.*?</script>')
_REACT = re.compile(r"netflix\.reactContext = ")


def variants(size: int) -> dict[str, bytes]:
    """The same title at `size` bytes, with fewer sources each time (more fallback work)."""
    full = render_title_page(
        "80047616",
        title="The Intern",
        year=2015,
        plot="Ben, 70, becomes a senior intern at an online fashion start-up.",
        genres=["Comedies"],
        cast=["Robert De Niro", "Anne Hathaway", "Rene Russo"],
        rating="16+",
        directors=["Nancy Meyers"],
        pad_to_bytes=size,
    )
    no_ld = _JSON_LD.sub("", full)
    # The object stays (it is still read), but under a name the parser does not look for.
    og_markup_only = _REACT.sub("netflix.otherContext = ", no_ld)
    return {
        "JSON-LD + reactContext": full.encode(),
        "reactContext only": no_ld.encode(),
        "og + hero line only": og_markup_only.encode(),
    }


def timings(fn: Callable[[], object], runs: int) -> list[float]:
    for _ in range(max(10, runs // 10)):  # warm-up: the first runs pay for caches and clocks
        fn()
    out = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        out.append((time.perf_counter() - started) * 1000)
    return out


def p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--size", type=int, default=500_000, help="page size in bytes")
    args = parser.parse_args()

    columns = ("KB", 5), ("parse med", 10), ("parse p99", 10), ("lexbor med", 11), ("ratio", 6)
    header = f"{'page':<24} " + " ".join(f"{name:>{width}}" for name, width in columns)
    print(f"parse_title_page vs LexborHTMLParser(page) construction; {args.runs} runs, ms")
    print(header)
    print("-" * len(header))
    for name, body in variants(args.size).items():
        title = parse_title_page(body, country="us", title_id="80047616", url="u")
        assert title.title == "The Intern" and title.year == 2015, title
        parse_ms = timings(
            lambda b=body: parse_title_page(b, country="us", title_id="80047616", url="u"),
            args.runs,
        )
        lexbor_ms = timings(lambda b=body: LexborHTMLParser(b.decode("utf-8")), args.runs)
        parse_med, lexbor_med = statistics.median(parse_ms), statistics.median(lexbor_ms)
        print(
            f"{name:<24} {len(body) / 1000:>5.0f} {parse_med:>10.2f} {p99(parse_ms):>10.2f} "
            f"{lexbor_med:>11.2f} {parse_med / lexbor_med:>5.1f}x"
        )


if __name__ == "__main__":
    main()
