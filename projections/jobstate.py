"""The one source of a title job's shapes: its step fields, `job:*` payloads and REST state."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from projections.store import Doc
from streams.events import Envelope
from streams.events.netflix import JobCompleted, JobCreated, JobFailed, JobProgress, JobStatus

JobData = JobCreated | JobProgress | JobCompleted | JobFailed
JOB_EVENTS = (JobCreated, JobProgress, JobCompleted, JobFailed)
# A Socket.IO event name and its payload.
Emit = tuple[str, dict[str, Any]]


def step_fields(data: JobData) -> Doc:
    """What every job event says about the step it reached (stored per step and as the latest)."""
    return {
        "progress": data.progress,
        "status": data.status.value,
        "step": data.step,
        "stepCode": data.step_code.value,
    }


def result_of(data: JobCompleted) -> Doc:
    return data.data.model_dump(mode="json", by_alias=True)


def error_of(data: JobFailed) -> Doc:
    return data.error.model_dump(mode="json")


def progress_payload(job_id: str, step: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "jobId": job_id,
        "progress": step["progress"],
        "status": step["status"],
        "step": step["step"],
        "stepCode": step["stepCode"],
    }


def completed_payload(job_id: str, result: Any, source: str | None) -> dict[str, Any]:
    return {"jobId": job_id, "data": result, "source": source}


def error_payload(job_id: str | None, error: Mapping[str, Any]) -> dict[str, Any]:
    return {"jobId": job_id, "error": error}


def emits_for(event: Envelope) -> list[Emit]:
    """The Socket.IO events one job event becomes (every step is a `job:progress`)."""
    data = event.data
    if not isinstance(data, JOB_EVENTS):
        return []
    out: list[Emit] = [("job:progress", progress_payload(data.job_id, step_fields(data)))]
    if isinstance(data, JobCompleted):
        out.append(("job:completed", completed_payload(data.job_id, result_of(data), data.source)))
    elif isinstance(data, JobFailed):
        out.append(("job:error", error_payload(data.job_id, error_of(data))))
    return out


def emits_from_document(doc: Doc) -> list[Emit]:
    """The same events rebuilt from a job document (for jobs a gateway never saw in the log)."""
    out: list[Emit] = [("job:progress", progress_payload(doc["jobId"], s)) for s in doc.get("steps", [])]
    if doc.get("status") == JobStatus.COMPLETED and doc.get("result") is not None:
        out.append(("job:completed", completed_payload(doc["jobId"], doc["result"], doc.get("source"))))
    elif doc.get("status") == JobStatus.FAILED and doc.get("error") is not None:
        out.append(("job:error", error_payload(doc["jobId"], doc["error"])))
    return out


def rest_state(doc: Doc) -> dict[str, Any]:
    """`GET /api/jobs/{jobId}`'s answer (the OpenAPI `JobState`) from a job document."""
    return {
        "jobId": doc["jobId"],
        "status": doc["status"],
        "progress": doc["progress"],
        "step": doc.get("step"),
        "stepCode": doc.get("stepCode"),
        "source": doc.get("source"),
        "data": doc.get("result"),
        "error": doc.get("error"),
        "createdAt": doc.get("createdAt"),
        "updatedAt": doc.get("updatedAt"),
        "url": doc.get("url"),
        "country": doc.get("country"),
        "titleId": doc.get("titleId"),
    }
