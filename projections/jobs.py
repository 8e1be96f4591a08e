"""The jobs read model: one document per title job, folded from `netflix.job-events`."""

from __future__ import annotations

from typing import Any

from projections.store import Doc
from streams.events import Envelope
from streams.events.netflix import JobCompleted, JobCreated, JobFailed, JobProgress

JOB_TYPES = frozenset({"job.created", "job.progress", "job.completed", "job.failed"})


def doc_id(event: Envelope) -> str | None:
    return event.key if event.type in JOB_TYPES else None


def _step_entry(event: Envelope, data: Any) -> Doc:
    return {
        "sequence": event.sequence or 0,
        "progress": data.progress,
        "status": data.status.value,
        "step": data.step,
        "stepCode": data.step_code.value,
        "at": event.occurred_at,
    }


def apply(state: Doc | None, event: Envelope) -> Doc | None:
    """Pure: the job after `event`. Idempotent: an event whose sequence is known changes nothing."""
    data = event.data
    if not isinstance(data, JobCreated | JobProgress | JobCompleted | JobFailed):
        return state
    seq = event.sequence or 0
    doc: Doc = dict(state) if state else {
        "jobId": data.job_id,
        "status": "pending",
        "progress": 0,
        "steps": [],
        "sequence": -1,
        "source": None,
        "result": None,
        "error": None,
        "createdAt": event.occurred_at,
    }
    if any(s["sequence"] == seq for s in doc["steps"]):
        return state
    if isinstance(data, JobCreated):
        doc.update(url=data.url, country=data.country, titleId=data.title_id)
        doc["createdAt"] = min(doc.get("createdAt") or event.occurred_at, event.occurred_at)
    steps = sorted([*doc["steps"], _step_entry(event, data)], key=lambda s: s["sequence"])
    doc["steps"] = steps
    if seq > doc["sequence"]:
        doc.update(
            sequence=seq,
            status=data.status.value,
            progress=data.progress,
            step=data.step,
            stepCode=data.step_code.value,
            updatedAt=event.occurred_at,
        )
        if isinstance(data, JobCompleted):
            doc.update(source=data.source, result=data.data.model_dump(mode="json", by_alias=True),
                       completedAt=event.occurred_at)
        elif isinstance(data, JobFailed):
            doc.update(error=data.error.model_dump(mode="json"), completedAt=event.occurred_at)
    return doc
