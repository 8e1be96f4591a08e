"""The default namespace's `job:subscribe` / `job:unsubscribe`, and job events into job rooms."""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import functools
import logging
from collections.abc import Callable
from typing import Any

import socketio

from gateway.metrics import SOCKETIO_EMITS, SOCKETIO_RECOVERIES
from gateway.realtime.jobtail import JobEventTail
from gateway.realtime.jobtracker import JobTracker, TrackedJob
from gateway.realtime.limits import ConnectionLimits, Subscriptions
from gateway.realtime.sessions import EventSender, RecoveringServer, Restore, Sessions, position
from projections.queries import (
    Doc,
    MongoStore,
    emits_for,
    emits_from_document,
    error_payload,
    get_job,
)
from streams.errors import AppError, ErrorCode
from streams.events import Envelope
from streams.events.netflix import JobStatus

# How long a subscription to a job neither the log nor the read model knows yet waits for it
# (the seed's client subscribes right after the POST, so the job may be a moment old).
UNKNOWN_JOB_GRACE_SECONDS = 1.5
# The first part of it is spent waiting for the tail alone, before asking the read model.
TAIL_WAIT_SECONDS = 0.2


def room(job_id: str) -> str:
    return f"job:{job_id}"


# One Socket.IO event of a job: its position (see `sessions.position`), name and payload.
Item = tuple[int, str, dict[str, Any]]


def items_for(events: list[Envelope]) -> list[Item]:
    return [
        (position(ev.sequence or 0, part), name, payload)
        for ev in events
        for part, (name, payload) in enumerate(emits_for(ev))
    ]


def items_from_document(doc: Doc) -> list[Item]:
    """The job's events rebuilt from its document: one per step, then the terminal one."""
    emits = emits_from_document(doc)
    seqs = [int(s.get("sequence") or 0) for s in doc.get("steps", [])]
    last = max(seqs, default=0)
    return [
        (position(seqs[i], 0) if i < len(seqs) else position(last, 1), name, payload)
        for i, (name, payload) in enumerate(emits)
    ]


log = logging.getLogger(__name__)
# Finished jobs age out even when no new event comes to trigger it.
SWEEP_SECONDS = 5.0


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's malloc_trim, looked up once (find_library runs ldconfig); None without glibc."""
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        trim: Callable[[int], int] = ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError):
        return None
    return trim


def _release_free_memory() -> None:
    """Hand freed heap back to the OS (glibc keeps it otherwise, and RSS stays at its peak
    after a burst); a no-op where there is no glibc."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


# Subscribes and publishes of one job are ordered by one of these locks (picked by job id), so
# jobs do not wait on each other; 256 stripes make two busy jobs sharing one rare.
LOCK_STRIPES = 256


class JobFanout:
    """The job tail feeds `publish`; subscribers join rooms. A per-job lock orders both: a late
    subscriber gets the steps it missed, in order, and then only newer ones, nothing twice."""

    def __init__(
        self,
        sio: socketio.AsyncServer,
        bootstrap: str,
        topic: str,
        store: MongoStore,
        sessions: Sessions,
        *,
        max_subscriptions: int = 0,
    ) -> None:
        self.sio = sio
        self.store = store
        self.sessions = sessions
        self.sender = EventSender(sio, sessions)
        self.jobs = JobTracker()
        self.subscriptions = Subscriptions(max_subscriptions, self._finished)
        self.tail = JobEventTail(bootstrap, topic, self.publish)
        self._locks = [asyncio.Lock() for _ in range(LOCK_STRIPES)]
        self._sweeper: asyncio.Task[None] | None = None

    def _finished(self, job_id: str) -> bool:
        """Whether no more events will come to the job's room: its terminal event is here, or
        the tracker has let it go (finished a while ago, or silent for ACTIVE_TTL_SECONDS)."""
        job = self.jobs.get(job_id)
        return job is None or job.terminal is not None

    def _lock(self, job_id: str) -> asyncio.Lock:
        return self._locks[hash(job_id) % LOCK_STRIPES]

    async def start(self) -> None:
        await self.tail.start()
        self._sweeper = asyncio.create_task(self._sweep(), name="job-fanout-sweep")

    async def stop(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            await asyncio.gather(self._sweeper, return_exceptions=True)
        await self.tail.stop()

    async def _sweep(self) -> None:
        while True:
            await asyncio.sleep(SWEEP_SECONDS)
            dropped = self.jobs.evict()
            if dropped:
                log.debug("evicted %d jobs, %d still tracked", dropped, len(self.jobs))
                _release_free_memory()  # at most once per sweep: a burst's memory goes back

    async def publish(self, event: Envelope) -> None:
        """An event from the log (or this gateway's own `job.created`, before it comes back)."""
        async with self._lock(event.key):
            released = self.jobs.track(event)
            if released:
                await self.sender.send(event.key, items_for(released), room=room(event.key))

    def tracked(self, job_id: str) -> TrackedJob | None:
        return self.jobs.get(job_id)

    async def wait_done(self, job_id: str, timeout: float) -> TrackedJob | None:
        return await self.jobs.wait_done(job_id, timeout)

    async def subscribe(self, sid: str, job_id: str, since: int = -1) -> dict[str, Any]:
        """Join the job's room and get its events after position `since` (all of them by
        default; a recovered session passes the position its offset names). A socket at its
        subscription limit is refused first, before anything is read."""
        fresh = job_id not in self.subscriptions.of(sid)
        for done in self.subscriptions.reserve(sid, job_id):
            await self.sio.leave_room(sid, room(done))
            self.sessions.unwatch(sid, done)
        try:
            return await self._subscribe(sid, job_id, since)
        except BaseException:
            if fresh:
                self.subscriptions.remove(sid, job_id)
            raise

    async def _subscribe(self, sid: str, job_id: str, since: int) -> dict[str, Any]:
        job = self.jobs.get(job_id)
        doc = None
        # A job this process has not seen is most often one created a moment ago on another
        # gateway: its `job.created` is on the way through the tail. Waiting for it briefly
        # first spares a database read per subscriber (under load, most of the subscribe cost).
        if job is None and await self.jobs.wait_known(job_id, TAIL_WAIT_SECONDS):
            job = self.jobs.get(job_id)
        if job is None or not job.replayable:
            doc = await get_job(self.store, job_id)
            if doc is None and job is None:
                grace = UNKNOWN_JOB_GRACE_SECONDS - TAIL_WAIT_SECONDS
                if not await self.jobs.wait_known(job_id, grace):
                    doc = await get_job(self.store, job_id)
                    if doc is None:
                        raise AppError(f"job {job_id} does not exist", code=ErrorCode.JOB_NOT_FOUND)
        async with self._lock(job_id):
            await self.sio.enter_room(sid, room(job_id))
            job = self.jobs.get(job_id)
            if job is None and doc is None:  # evicted since the look above: rare, read it here
                doc = await get_job(self.store, job_id)
            if job is not None and job.replayable:
                items = items_for(job.released_events())
                status = job.status
            elif doc is not None:  # this process lacks steps (never saw them, or evicted them)
                items = items_from_document(doc)
                status = doc.get("status", JobStatus.PENDING.value)
                newest = max((s["sequence"] for s in doc.get("steps", [])), default=0)
                # Steps newer than the document: released here already (while this socket was
                # not in the room yet), or held here and released by the document now.
                later = [ev for ev in job.released_events() if (ev.sequence or 0) > newest] if job else []
                later += self.jobs.release_to(job_id, newest)
                items += items_for(later)
                if later:
                    status = str(later[-1].data.status.value)  # type: ignore[attr-defined]
            else:  # known here, its first step not yet: what is held goes out when it comes
                items, status = [], JobStatus.PENDING.value
            self.sessions.watch(sid, job_id, max(since, 0))
            await self.sender.send(job_id, [i for i in items if i[0] > since], sid=sid)
        return {"ok": True, "jobId": job_id, "status": status}

    async def unsubscribe(self, sid: str, job_id: str) -> dict[str, Any]:
        await self.sio.leave_room(sid, room(job_id))
        self.sessions.unwatch(sid, job_id)
        self.subscriptions.remove(sid, job_id)
        return {"ok": True, "jobId": job_id}

    async def restore(self, sid: str, rooms: dict[str, int]) -> None:
        """A recovered session's rooms, each with what it missed since its position."""

        async def one(job_id: str, since: int) -> None:
            try:
                await self.subscribe(sid, job_id, since)
            except AppError as exc:  # the job is gone from the read model: nothing to restore
                log.warning("session recovery skipped job=%s: %s", job_id, exc, extra={"jobId": job_id})

        await asyncio.gather(*(one(job_id, since) for job_id, since in rooms.items()))


def job_id_from(payload: Any) -> str:
    """The seed sends the jobId as a bare string; an object {jobId} is accepted too."""
    if isinstance(payload, dict):
        payload = payload.get("jobId")
    if not isinstance(payload, str) or not payload.strip() or len(payload) > 128:
        raise AppError("job:subscribe expects a jobId string", code=ErrorCode.VALIDATION_ERROR)
    return payload.strip()


def _asked_to_recover(auth: Any) -> bool:
    """socket.io-client sends its pid (and offset) in CONNECT only when reconnecting after a
    connection that had one, i.e. when it asks for its session back."""
    return isinstance(auth, dict) and auth.get("pid") is not None


def register_job_handlers(sio: socketio.AsyncServer, fanout: JobFanout, limits: ConnectionLimits) -> None:
    sessions = fanout.sessions

    async def on_connect(sid: str, environ: dict[str, Any], auth: Any = None) -> bool:
        limits.open("/", sid, environ)  # raises the refusal when the address has too many
        try:
            restore = sessions.open(sid, auth)
            if _asked_to_recover(auth):
                SOCKETIO_RECOVERIES.labels(outcome="not_recovered" if restore is None else "recovered").inc()
            if restore is not None and restore.replaces is not None:
                await sio.disconnect(restore.replaces)  # its old connection, not timed out here yet
        except BaseException:
            limits.close("/", sid)  # not connected: no disconnect will come to count it out
            raise
        return True

    async def on_recovered(sid: str, restore: Restore) -> None:
        await fanout.restore(sid, restore.rooms)
        log.info("session recovered sid=%s rooms=%d", sid, len(restore.rooms))

    async def on_disconnect(sid: str, reason: str | None = None) -> None:
        # Parked unless the server ended it (the client's own disconnect and a dropped polling
        # transport look the same here, and a parked session costs little).
        sessions.close(sid, park=reason != sio.reason.SERVER_DISCONNECT)
        fanout.subscriptions.drop(sid)
        limits.close("/", sid)

    async def on_subscribe(sid: str, payload: Any = None) -> dict[str, Any]:
        try:
            return await fanout.subscribe(sid, job_id_from(payload))
        except AppError as exc:
            # The seed's client has no ack callback: tell it on `job:error` as well.
            job_id = payload if isinstance(payload, str) and len(payload) <= 128 else None
            await sio.emit("job:error", error_payload(job_id, exc.to_dict()), to=sid)
            SOCKETIO_EMITS.labels(event="job:error").inc()
            return {"ok": False, "error": exc.to_dict()}

    async def on_unsubscribe(sid: str, payload: Any = None) -> dict[str, Any]:
        try:
            return await fanout.unsubscribe(sid, job_id_from(payload))
        except AppError as exc:
            return {"ok": False, "error": exc.to_dict()}

    # Registered by call, not as decorators: socketio is untyped, a decorator would untype them.
    if isinstance(sio, RecoveringServer):
        sio.on_recovered = on_recovered
    sio.on("connect", on_connect)
    sio.on("disconnect", on_disconnect)
    sio.on("job:subscribe", on_subscribe)
    sio.on("job:unsubscribe", on_unsubscribe)
