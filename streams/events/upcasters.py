"""Upcasters: each lifts one (type, version) payload one step to version + 1, on read."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from streams.events.netflix import STEP_DESCRIPTION, JobStep

JsonDict = dict[str, Any]
Upcaster = Callable[[JsonDict], JsonDict]


def job_progress_v1_to_v2(data: JsonDict) -> JsonDict:
    """v1 put the step code in `step`; v2 moves it to `stepCode` and puts the description in `step`."""
    out = dict(data)
    code = str(data.get("step", ""))
    try:
        step = JobStep(code)
    except ValueError:
        # A v1 writer that already put a description in `step`: keep it, recover the code from it.
        by_description = {desc.lower(): s for s, desc in STEP_DESCRIPTION.items()}
        step = by_description.get(code.lower(), JobStep.CREATED)
        out["step"] = code
    else:
        out["step"] = STEP_DESCRIPTION[step]
    out["stepCode"] = step.value
    return out


# (type, from_version) -> function producing from_version + 1
UPCASTERS: dict[tuple[str, int], Upcaster] = {
    ("job.progress", 1): job_progress_v1_to_v2,
}
