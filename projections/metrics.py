"""Prometheus metrics of the read side: database errors and folded events."""

from __future__ import annotations

from prometheus_client import Counter

DATABASE_ERRORS = Counter(
    "streamproc_database_errors_total",
    "Database operations that failed, by kind (transient: retried or 503; permanent).",
    ["kind"],
)
PROJECTION_EVENTS = Counter(
    "streamproc_projection_events_total",
    "Events folded into a read model by the live projections, by projection.",
    ["projection"],
)
