"""A one-line progress bar on stderr: done/total, events/s and ETA, redrawn <= 5 times a second."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO

MIN_REDRAW_SECONDS = 0.2


def _duration(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"


def _count(n: float) -> str:
    if n >= 1_000_000:
        return f"{n / 1_000_000:.1f}M"
    if n >= 10_000:
        return f"{n / 1000:.1f}k"
    return f"{n:.0f}"


def render(label: str, done: int, total: int | None, elapsed: float, width: int = 24) -> str:
    """The bar's text (no carriage return): pure, so its format is unit-tested."""
    rate = done / elapsed if elapsed > 0 else 0.0
    speed = f"{_count(rate)} ev/s"
    if total is None or total <= 0:
        return f"{label} {done} events {speed} {_duration(elapsed)}"
    fraction = min(1.0, done / total)
    filled = int(fraction * width)
    bar = "#" * filled + "-" * (width - filled)
    if done >= total:
        eta = "done"
    elif rate > 0:
        eta = "ETA " + _duration((total - done) / rate)
    else:
        eta = "ETA --:--"
    return f"{label} [{bar}] {done}/{total} {fraction * 100:5.1f}% {speed} {eta}"


class Progress:
    """Counts events and redraws `\\r<bar>` on `stream`; silent when disabled.

    Enabled when `stream` is a terminal, or when forced (`--progress`)."""

    def __init__(
        self,
        label: str,
        total: int | None = None,
        *,
        enabled: bool | None = None,
        stream: TextIO | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self.label = label
        self.total = total
        self.done = 0
        self.clock = clock
        self.started = clock()
        self._drawn_at: float | None = None
        self._width = 0

    def add(self, n: int = 1) -> None:
        self.done += n
        if not self.enabled:
            return
        now = self.clock()
        if self._drawn_at is None or now - self._drawn_at >= MIN_REDRAW_SECONDS:
            self._draw(now)

    def retotal(self, total: int | None) -> None:
        self.total = total

    def elapsed(self) -> float:
        return self.clock() - self.started

    def _draw(self, now: float) -> None:
        text = render(self.label, self.done, self.total, now - self.started)
        pad = " " * max(0, self._width - len(text))
        self.stream.write("\r" + text + pad)
        self.stream.flush()
        self._width = len(text)
        self._drawn_at = now

    def close(self) -> None:
        """The final state, then a newline, so later output starts on its own line."""
        if self.enabled:
            self._draw(self.clock())
            self.stream.write("\n")
            self.stream.flush()
