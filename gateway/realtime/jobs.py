"""The default namespace's `job:subscribe` / `job:unsubscribe`, and job events into job rooms."""

from __future__ import annotations

import asyncio
from typing import Any

import socketio

from gateway.realtime.jobtail import JobEventTail
from gateway.realtime.jobtracker import JobTracker, TrackedJob
from projections.queries import (
    Emit,
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


def room(job_id: str) -> str:
    return f"job:{job_id}"


class JobFanout:
    """The job tail feeds `publish`; subscribers join rooms. One lock orders both: a late
    subscriber gets the steps it missed, in order, and then only newer ones, nothing twice."""

    def __init__(self, sio: socketio.AsyncServer, bootstrap: str, topic: str, store: MongoStore) -> None:
        self.sio = sio
        self.store = store
        self.jobs = JobTracker()
        self.tail = JobEventTail(bootstrap, topic, self.publish)
        self._lock = asyncio.Lock()

    async def start(self) -> None:
        await self.tail.start()

    async def stop(self) -> None:
        await self.tail.stop()

    async def publish(self, event: Envelope) -> None:
        async with self._lock:
            if not self.jobs.track(event):
                return
            await self._emit(emits_for(event), room=room(event.key))

    async def _emit(self, emits: list[Emit], **to: str) -> None:
        for name, payload in emits:
            await self.sio.emit(name, payload, **to)

    def note_created(self, event: Envelope) -> None:
        """The gateway's own append: known at once, before it comes back from Kafka."""
        self.jobs.track(event)

    def tracked(self, job_id: str) -> TrackedJob | None:
        return self.jobs.get(job_id)

    async def wait_done(self, job_id: str, timeout: float) -> TrackedJob | None:
        return await self.jobs.wait_done(job_id, timeout)

    async def subscribe(self, sid: str, job_id: str) -> dict[str, Any]:
        doc = None
        if self.jobs.get(job_id) is None:
            doc = await get_job(self.store, job_id)
            if doc is None and not await self.jobs.wait_known(job_id, UNKNOWN_JOB_GRACE_SECONDS):
                doc = await get_job(self.store, job_id)
                if doc is None:
                    raise AppError(f"job {job_id} does not exist", code=ErrorCode.JOB_NOT_FOUND)
        async with self._lock:
            await self.sio.enter_room(sid, room(job_id))
            job = self.jobs.get(job_id)
            if job is not None:
                emits = [e for ev in job.ordered() for e in emits_for(ev)]
                status = job.status
            else:  # never seen here (read above), or evicted since: the read model has it
                doc = doc if doc is not None else await get_job(self.store, job_id)
                if doc is None:
                    raise AppError(f"job {job_id} does not exist", code=ErrorCode.JOB_NOT_FOUND)
                emits = emits_from_document(doc)
                status = doc.get("status", JobStatus.PENDING.value)
                self.jobs.mark_delivered(job_id, (s["sequence"] for s in doc.get("steps", [])))
            await self._emit(emits, to=sid)
        return {"ok": True, "jobId": job_id, "status": status}

    async def unsubscribe(self, sid: str, job_id: str) -> dict[str, Any]:
        await self.sio.leave_room(sid, room(job_id))
        return {"ok": True, "jobId": job_id}


def job_id_from(payload: Any) -> str:
    """The seed sends the jobId as a bare string; an object {jobId} is accepted too."""
    if isinstance(payload, dict):
        payload = payload.get("jobId")
    if not isinstance(payload, str) or not payload.strip() or len(payload) > 128:
        raise AppError("job:subscribe expects a jobId string", code=ErrorCode.VALIDATION_ERROR)
    return payload.strip()


def register_job_handlers(sio: socketio.AsyncServer, fanout: JobFanout) -> None:
    async def on_subscribe(sid: str, payload: Any = None) -> dict[str, Any]:
        try:
            return await fanout.subscribe(sid, job_id_from(payload))
        except AppError as exc:
            # The seed's client has no ack callback: tell it on `job:error` as well.
            job_id = payload if isinstance(payload, str) else None
            await sio.emit("job:error", error_payload(job_id, exc.to_dict()), to=sid)
            return {"ok": False, "error": exc.to_dict()}

    async def on_unsubscribe(sid: str, payload: Any = None) -> dict[str, Any]:
        try:
            return await fanout.unsubscribe(sid, job_id_from(payload))
        except AppError as exc:
            return {"ok": False, "error": exc.to_dict()}

    # Registered by call, not as decorators: socketio is untyped, a decorator would untype them.
    sio.on("job:subscribe", on_subscribe)
    sio.on("job:unsubscribe", on_unsubscribe)
