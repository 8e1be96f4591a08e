"""A hand-moved clock for unit tests (injected where the code takes a `clock` and a `sleep`)."""

from __future__ import annotations


class FakeClock:
    """Reads `now`, which a test moves by hand (`clock.now += 1`); `sleep` records how long it
    was asked to wait and moves the clock by that much at once."""

    def __init__(self, now: float = 0.0) -> None:
        self.now = now
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds
