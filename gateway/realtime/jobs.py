"""Job events -> Socket.IO: a per-process consumer of `netflix.job-events`, the jobs this process
has seen, and the default namespace's `job:subscribe` / `job:unsubscribe`."""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import socketio
from aiokafka import AIOKafkaConsumer
from aiokafka.errors import KafkaError

from projections.queries import get_job
from projections.store import Doc, MongoStore
from streams.errors import AppError, ErrorCode, EventDecodeError
from streams.events import Envelope, decode
from streams.events.netflix import JobCompleted, JobCreated, JobFailed, JobProgress

log = logging.getLogger(__name__)

MAX_TRACKED_JOBS = 50_000
Emit = tuple[str, dict[str, Any]]


def room(job_id: str) -> str:
    return f"job:{job_id}"


def progress_payload(data: JobCreated | JobProgress | JobCompleted | JobFailed) -> dict[str, Any]:
    return {
        "jobId": data.job_id,
        "progress": data.progress,
        "status": data.status.value,
        "step": data.step,
        "stepCode": data.step_code.value,
    }


def emits_for(event: Envelope) -> list[Emit]:
    """The Socket.IO events one job event becomes (every step is a `job:progress`)."""
    data = event.data
    if not isinstance(data, JobCreated | JobProgress | JobCompleted | JobFailed):
        return []
    out: list[Emit] = [("job:progress", progress_payload(data))]
    if isinstance(data, JobCompleted):
        out.append(("job:completed", {
            "jobId": data.job_id,
            "data": data.data.model_dump(mode="json", by_alias=True),
            "source": data.source,
        }))
    elif isinstance(data, JobFailed):
        out.append(("job:error", {"jobId": data.job_id, "error": data.error.model_dump(mode="json")}))
    return out


def emits_from_document(doc: Doc) -> list[Emit]:
    """The same events rebuilt from the jobs read model (for jobs this process never saw)."""
    out: list[Emit] = [
        ("job:progress", {"jobId": doc["jobId"], "progress": s["progress"], "status": s["status"],
                          "step": s["step"], "stepCode": s["stepCode"]})
        for s in doc.get("steps", [])
    ]
    if doc.get("status") == "completed" and doc.get("result") is not None:
        out.append(("job:completed", {"jobId": doc["jobId"], "data": doc["result"],
                                      "source": doc.get("source")}))
    elif doc.get("status") == "failed" and doc.get("error") is not None:
        out.append(("job:error", {"jobId": doc["jobId"], "error": doc["error"]}))
    return out


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
    def terminal(self) -> Envelope | None:
        last = self.last
        return last if isinstance(last.data, JobCompleted | JobFailed) else None


class JobFanout:
    """Consumes job events from the end of the log (no consumer group: every gateway process
    gets every event) and emits them to the job's room. A late subscriber gets the steps it
    missed, in order, under the same lock, so nothing is lost or sent twice."""

    def __init__(self, sio: socketio.AsyncServer, bootstrap: str, topic: str, store: MongoStore) -> None:
        self.sio = sio
        self.topic = topic
        self.store = store
        self._bootstrap = bootstrap
        self._jobs: OrderedDict[str, TrackedJob] = OrderedDict()
        self._known: dict[str, asyncio.Event] = {}
        self._lock = asyncio.Lock()
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task[None] | None = None

    # -- the consumer ---------------------------------------------------------------------
    async def start(self) -> None:
        consumer = AIOKafkaConsumer(
            self.topic,
            bootstrap_servers=self._bootstrap,
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="latest",
            client_id="streamproc-gateway-fanout",
        )
        await consumer.start()
        # Pin the start position now, so nothing appended after start-up is skipped.
        await consumer.seek_to_end()
        for tp in consumer.assignment():
            await consumer.position(tp)
        self._consumer = consumer
        self._task = asyncio.create_task(self._run(), name="job-fanout")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        if self._consumer is not None:
            await self._consumer.stop()

    async def _run(self) -> None:
        assert self._consumer is not None  # noqa: S101
        while True:
            try:
                batches = await self._consumer.getmany(timeout_ms=500, max_records=500)
            except KafkaError as exc:
                log.warning("job fan-out consumer error=%s; retrying", exc)
                await asyncio.sleep(1.0)
                continue
            for records in batches.values():
                for record in records:
                    try:
                        event = decode(record.value)
                    except EventDecodeError as exc:
                        # the worker's consumer dead-letters it; here it is only skipped
                        log.warning("skipping undecodable job event at=%s[%d]@%d error=%s",
                                    record.topic, record.partition, record.offset, exc.message)
                        continue
                    await self.publish(event)

    # -- state ----------------------------------------------------------------------------
    def _track(self, event: Envelope) -> bool:
        """Remember an event; False when it was already known (redelivery, own append)."""
        job_id = event.key
        job = self._jobs.get(job_id)
        if job is None:
            job = self._jobs[job_id] = TrackedJob()
            while len(self._jobs) > MAX_TRACKED_JOBS:
                self._jobs.popitem(last=False)
        else:
            self._jobs.move_to_end(job_id)
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

    async def publish(self, event: Envelope) -> None:
        async with self._lock:
            if not self._track(event):
                return
            for name, payload in emits_for(event):
                await self.sio.emit(name, payload, room=room(event.key))

    def note_created(self, event: Envelope) -> None:
        """The gateway's own append: known at once, before it comes back from Kafka."""
        self._track(event)

    def tracked(self, job_id: str) -> TrackedJob | None:
        """The job as this process has seen it in the log (None if it has seen no event of it)."""
        job = self._jobs.get(job_id)
        return job if job is not None and job.events else None

    async def wait_done(self, job_id: str, timeout: float) -> TrackedJob | None:
        job = self.tracked(job_id)
        if job is None:
            return None
        try:
            await asyncio.wait_for(job.done.wait(), timeout)
        except TimeoutError:
            pass
        return job

    async def _wait_known(self, job_id: str, timeout: float) -> bool:
        if self.tracked(job_id) is not None:
            return True
        waiter = self._known.setdefault(job_id, asyncio.Event())
        try:
            await asyncio.wait_for(waiter.wait(), timeout)
        except TimeoutError:
            self._known.pop(job_id, None)
            return False
        return True

    # -- Socket.IO ------------------------------------------------------------------------
    async def subscribe(self, sid: str, job_id: str) -> dict[str, Any]:
        if self.tracked(job_id) is None:
            doc = await get_job(self.store, job_id)
            if doc is None and not await self._wait_known(job_id, 1.5):
                doc = await get_job(self.store, job_id)
                if doc is None:
                    raise AppError(f"job {job_id} does not exist", code=ErrorCode.JOB_NOT_FOUND)
        else:
            doc = None
        async with self._lock:
            await self.sio.enter_room(sid, room(job_id))
            job = self.tracked(job_id)
            if job is not None:
                emits = [e for ev in job.ordered() for e in emits_for(ev)]
                status = job.last.data.status.value  # type: ignore[attr-defined]
            else:
                assert doc is not None  # noqa: S101
                emits = emits_from_document(doc)
                status = doc.get("status", "pending")
                seeded = self._jobs.setdefault(job_id, TrackedJob())
                seeded.delivered.update(s["sequence"] for s in doc.get("steps", []))
            for name, payload in emits:
                await self.sio.emit(name, payload, to=sid)
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
    @sio.on("job:subscribe")
    async def on_subscribe(sid: str, payload: Any = None) -> dict[str, Any]:
        try:
            return await fanout.subscribe(sid, job_id_from(payload))
        except AppError as exc:
            # The seed's client has no ack callback: tell it on `job:error` as well.
            job_id = payload if isinstance(payload, str) else None
            await sio.emit("job:error", {"jobId": job_id, "error": exc.to_dict()}, to=sid)
            return {"ok": False, "error": exc.to_dict()}

    @sio.on("job:unsubscribe")
    async def on_unsubscribe(sid: str, payload: Any = None) -> dict[str, Any]:
        try:
            return await fanout.unsubscribe(sid, job_id_from(payload))
        except AppError as exc:
            return {"ok": False, "error": exc.to_dict()}
