"""The jobs this gateway process has seen in the log: a bounded LRU of their events, and waits."""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field

from streams.events import Envelope
from streams.events.netflix import JobCompleted, JobFailed

MAX_TRACKED_JOBS = 50_000


@dataclass
class TrackedJob:
    events: dict[int, Envelope] = field(default_factory=dict)
    done: asyncio.Event = field(default_factory=asyncio.Event)
    # Sequences already delivered from the read model (not held as events here): a later copy
    # of one of them from the log must not be emitted again.
    delivered: set[int] = field(default_factory=set)

    def ordered(self) -> list[Envelope]:
        return [self.events[s] for s in sorted(self.events)]

    @property
    def last(self) -> Envelope:
        return self.events[max(self.events)]

    @property
    def status(self) -> str:
        return str(self.last.data.status.value)  # type: ignore[attr-defined]  # every job event has one

    @property
    def terminal(self) -> Envelope | None:
        last = self.last
        return last if isinstance(last.data, JobCompleted | JobFailed) else None


class JobTracker:
    """Events per job, least recently used jobs dropped first; no I/O, no locking of its own
    (the subscribe protocol holds its lock around `track` and the emits that follow)."""

    def __init__(self, max_jobs: int = MAX_TRACKED_JOBS) -> None:
        self._max_jobs = max_jobs
        self._jobs: OrderedDict[str, TrackedJob] = OrderedDict()
        self._known: dict[str, asyncio.Event] = {}

    def _entry(self, job_id: str) -> TrackedJob:
        job = self._jobs.get(job_id)
        if job is None:
            job = self._jobs[job_id] = TrackedJob()
            while len(self._jobs) > self._max_jobs:
                self._jobs.popitem(last=False)
        else:
            self._jobs.move_to_end(job_id)
        return job

    def track(self, event: Envelope) -> bool:
        """Remember an event; False when it was already known (redelivery, own append)."""
        job_id = event.key
        job = self._entry(job_id)
        seq = event.sequence or 0
        if seq in job.events or seq in job.delivered:
            return False
        job.events[seq] = event
        if job.terminal is not None:
            job.done.set()
        waiter = self._known.pop(job_id, None)
        if waiter is not None:
            waiter.set()
        return True

    def mark_delivered(self, job_id: str, sequences: Iterable[int]) -> None:
        """Steps a subscriber got from the read model: their copies from the log are not news."""
        self._entry(job_id).delivered.update(sequences)

    def get(self, job_id: str) -> TrackedJob | None:
        """The job as this process has seen it in the log (None if it has seen no event of it)."""
        job = self._jobs.get(job_id)
        return job if job is not None and job.events else None

    async def wait_done(self, job_id: str, timeout: float) -> TrackedJob | None:
        job = self.get(job_id)
        if job is None:
            return None
        try:
            await asyncio.wait_for(job.done.wait(), timeout)
        except TimeoutError:
            pass
        return job

    async def wait_known(self, job_id: str, timeout: float) -> bool:
        """Whether an event of the job arrives within `timeout` (or has already)."""
        if self.get(job_id) is not None:
            return True
        waiter = self._known.setdefault(job_id, asyncio.Event())
        try:
            await asyncio.wait_for(waiter.wait(), timeout)
        except TimeoutError:
            self._known.pop(job_id, None)
            return False
        return True
