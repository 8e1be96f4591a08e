"""When a crashed child of `devstack run` is started again: exponential backoff, reset by uptime.

Pure (times are passed in), so the policy is unit-tested without processes or sleeps.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RestartPolicy:
    """The first restart waits `initial` s, each further one `factor` times longer, at most `cap`.

    A child that stayed up `reset_after` s before it crashed counts as healthy again: its next
    restart waits `initial` once more. A child that keeps crashing is retried for ever, but never
    more often than once per `cap` s.
    """

    initial: float = 0.5
    factor: float = 2.0
    cap: float = 30.0
    reset_after: float = 60.0

    def __post_init__(self) -> None:
        if self.initial <= 0 or self.factor < 1 or self.cap < self.initial or self.reset_after <= 0:
            raise ValueError(f"invalid restart policy: {self}")

    def delay(self, crashes: int) -> float:
        """The wait before the restart after the `crashes`-th crash in a row (1-based)."""
        if crashes < 1:
            raise ValueError("crashes counts from 1")
        # min() before the power would overflow for a child that crashed thousands of times
        exponent = min(crashes - 1, 64)
        return min(self.cap, self.initial * self.factor**exponent)


@dataclass
class Backoff:
    """One child's crash record under a RestartPolicy."""

    policy: RestartPolicy
    crashes: int = 0  # crashes in a row, since the last time it stayed up reset_after s

    def crashed(self, uptime: float) -> float:
        """Record a crash after `uptime` s of running; return how long to wait before restarting."""
        if uptime >= self.policy.reset_after:
            self.crashes = 0
        self.crashes += 1
        return self.policy.delay(self.crashes)
