"""The jobs read model: one document per title job, folded from `netflix.job-events`."""

from __future__ import annotations

from collections.abc import Iterable

from projections.jobstate import JOB_EVENTS, JobData, error_of, result_of, step_fields
from projections.store import Doc
from streams.events import Envelope
from streams.events.netflix import JobCompleted, JobCreated, JobFailed, JobStatus

JOB_TYPES = frozenset({"job.created", "job.progress", "job.completed", "job.failed"})


def doc_id(event: Envelope) -> str | None:
    return event.key if event.type in JOB_TYPES else None


def _step_entry(event: Envelope, data: JobData) -> Doc:
    return {"sequence": event.sequence or 0, **step_fields(data), "at": event.occurred_at}


def apply(state: Doc | None, event: Envelope) -> Doc | None:
    """Pure: the job after `event`. Idempotent: an event whose sequence is known changes nothing."""
    data = event.data
    if not isinstance(data, JOB_EVENTS):
        return state
    seq = event.sequence or 0
    doc: Doc = (
        dict(state)
        if state
        else {
            "jobId": data.job_id,
            "status": JobStatus.PENDING.value,
            "progress": 0,
            "steps": [],
            "sequence": -1,
            "source": None,
            "result": None,
            "error": None,
            "createdAt": event.occurred_at,
        }
    )
    if any(s["sequence"] == seq for s in doc["steps"]):
        return state
    if isinstance(data, JobCreated):
        doc.update(url=data.url, country=data.country, titleId=data.title_id)
        doc["createdAt"] = min(doc.get("createdAt") or event.occurred_at, event.occurred_at)
    steps = sorted([*doc["steps"], _step_entry(event, data)], key=lambda s: s["sequence"])
    doc["steps"] = steps
    if seq > doc["sequence"]:
        doc.update(sequence=seq, **step_fields(data), updatedAt=event.occurred_at)
        if isinstance(data, JobCompleted):
            doc.update(source=data.source, result=result_of(data), completedAt=event.occurred_at)
        elif isinstance(data, JobFailed):
            doc.update(error=error_of(data), completedAt=event.occurred_at)
    return doc


def fold(events: Iterable[Envelope]) -> Doc | None:
    """The document a job's events make; the gateway folds the events it holds the same way."""
    state: Doc | None = None
    for event in events:
        state = apply(state, event)
    return state
