"""What the benchmarks share: the percentile they all report."""

from __future__ import annotations


def pct(values: list[float], q: float) -> float:
    """The q-th percentile by nearest rank (0.0 for no values: a run that lost everything)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]
