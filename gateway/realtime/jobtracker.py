"""The jobs this gateway process has seen in the log: their events in sequence order, which of
them are released to subscribers, waits for them, and eviction by age and count."""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Callable

from streams.events import Envelope, decode, encode
from streams.events.netflix import TERMINAL_SEQUENCE, JobCompleted, JobFailed

# Finished jobs are kept this long for late subscribers and `POST /api/getinfo`'s answer; after
# that the read model serves them (it has had the terminal event for as long). At 100 jobs/s
# this holds ~3,000 finished jobs, a few MB.
FINISHED_TTL_SECONDS = 30.0
MAX_FINISHED_JOBS = 5_000
# Jobs still running: a job whose worker is slow or down is kept until its step shows up, at
# most this long or this many; an evicted one is still served from the read model.
ACTIVE_TTL_SECONDS = 600.0
MAX_ACTIVE_JOBS = 20_000


class TrackedJob:
    """One job's events by sequence. A finished job is packed into one bytes object (its
    events' wire form, newline-separated): a fraction of the decoded size, and one allocation
    the allocator can hand back to the OS when the job is evicted, where thousands of small
    objects would leave the heap fragmented at its peak after a burst."""

    __slots__ = ("_events", "_packed", "_seqs", "_status", "released", "done", "touched")

    def __init__(self) -> None:
        self._events: dict[int, Envelope] = {}
        self._packed: bytes | None = None
        self._seqs: frozenset[int] = frozenset()
        self._status = ""
        # Sequences up to here have been handed to subscribers (live, or from the read model).
        self.released = 0
        self.done = asyncio.Event()
        self.touched = 0.0

    @property
    def events(self) -> dict[int, Envelope]:
        """Read-only view for a packed job (decoded each time): mutate through `add`."""
        if self._packed is None:
            return self._events
        return {e.sequence or 0: e for e in map(decode, self._packed.split(b"\n"))}

    def has(self, seq: int) -> bool:
        return seq in (self._seqs if self._packed is not None else self._events)

    def add(self, event: Envelope) -> None:
        if self._packed is not None:  # a late event of a finished job: rare
            self._events, self._packed = self.events, None
        self._events[event.sequence or 0] = event

    def pack(self) -> None:
        if self._packed is None and self._events:
            self._status = self.status
            self._seqs = frozenset(self._events)
            self._packed = b"\n".join(encode(e) for e in self.ordered())
            self._events = {}

    def ordered(self) -> list[Envelope]:
        events = self.events
        return [events[s] for s in sorted(events)]

    def released_events(self) -> list[Envelope]:
        return [e for e in self.ordered() if (e.sequence or 0) <= self.released]

    @property
    def empty(self) -> bool:
        return self._packed is None and not self._events

    @property
    def replayable(self) -> bool:
        """Whether this process holds every released step to replay itself; otherwise a
        subscriber is served from the read model. A job's steps are numbered 1..k along its
        path and its terminal event sits above them at TERMINAL_SEQUENCE (a cache hit is 1, 2,
        6), so the steps held must run from 1 without a hole; the gap before the terminal one
        is no loss."""
        if self.released <= 0:
            return False
        steps = [s for s in range(1, min(self.released, TERMINAL_SEQUENCE - 1) + 1) if self.has(s)]
        return bool(steps) and steps == list(range(1, len(steps) + 1))

    @property
    def last(self) -> Envelope:
        events = self.events
        return events[max(events)]

    @property
    def status(self) -> str:
        if self._packed is not None:
            return self._status
        return str(self.last.data.status.value)  # type: ignore[attr-defined]  # every job event has one

    @property
    def terminal(self) -> Envelope | None:
        last = self.last
        return last if isinstance(last.data, JobCompleted | JobFailed) else None

    def _release(self) -> list[Envelope]:
        """Everything held above `released`, in sequence order, unless the job's first event
        is still missing: the worker's first step can reach the log before the gateway's
        `job.created` (they are appended concurrently, to different partitions), and a
        subscriber must see `created` first. A terminal event releases whatever is held."""
        if self.released == 0 and not self.has(1) and self.terminal is None:
            return []
        out = [e for e in self.ordered() if (e.sequence or 0) > self.released]
        if out:
            self.released = out[-1].sequence or self.released
        return out


class JobTracker:
    """Per-job events, evicted by age and count (finished jobs first and soonest); no I/O and no
    locking of its own: the fan-out holds a per-job lock around `track` and its emits."""

    def __init__(
        self,
        *,
        max_active: int = MAX_ACTIVE_JOBS,
        max_finished: int = MAX_FINISHED_JOBS,
        active_ttl: float = ACTIVE_TTL_SECONDS,
        finished_ttl: float = FINISHED_TTL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._limits = {True: (max_finished, finished_ttl), False: (max_active, active_ttl)}
        self._clock = clock
        # Least recently changed first; a job moves to `_finished` when its terminal event comes.
        self._active: OrderedDict[str, TrackedJob] = OrderedDict()
        self._finished: OrderedDict[str, TrackedJob] = OrderedDict()
        self._known: dict[str, asyncio.Event] = {}

    def __len__(self) -> int:
        return len(self._active) + len(self._finished)

    def entry(self, job_id: str) -> TrackedJob:
        """The job's entry, created if new; touching it keeps it from age eviction."""
        now = self._clock()
        job = self._finished.get(job_id)
        table = self._finished
        if job is None:
            job = self._active.get(job_id)
            table = self._active
        if job is None:
            job = self._active[job_id] = TrackedJob()
        elif table is self._active and not job.empty and job.terminal is not None:
            del self._active[job_id]
            self._finished[job_id] = job
            job.pack()
        else:
            table.move_to_end(job_id)
        job.touched = now
        self.evict(now)
        return job

    def evict(self, now: float | None = None) -> int:
        """Drop jobs past their age or over their count; the number dropped."""
        now = self._clock() if now is None else now
        dropped = 0
        for finished, table in ((True, self._finished), (False, self._active)):
            limit, ttl = self._limits[finished]
            while table:
                job_id, job = next(iter(table.items()))
                if len(table) <= limit and now - job.touched < ttl:
                    break
                del table[job_id]
                dropped += 1
        return dropped

    def track(self, event: Envelope) -> list[Envelope]:
        """Remember an event; the events it releases to subscribers, in order (none when it was
        known already, from the log, this gateway's own append, or the read model)."""
        job_id = event.key
        job = self.entry(job_id)
        seq = event.sequence or 0
        if job.has(seq) or (seq <= job.released and job.released):
            return []
        job.add(event)
        released = job._release()
        if job.terminal is not None:
            job.done.set()
            self.entry(job_id)  # moves it to the finished jobs
        waiter = self._known.pop(job_id, None)
        if waiter is not None:
            waiter.set()
        return released

    def release_to(self, job_id: str, sequence: int) -> list[Envelope]:
        """A subscriber got the steps up to `sequence` from the read model: those are not news,
        and what is held above them can go out now."""
        job = self.entry(job_id)
        if sequence <= job.released:
            return []
        job.released = sequence
        return job._release()

    def get(self, job_id: str) -> TrackedJob | None:
        """The job as this process has seen it in the log (None if it has seen no event of it)."""
        job = self._finished.get(job_id) or self._active.get(job_id)
        return job if job is not None and not job.empty else None

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
