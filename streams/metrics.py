"""Prometheus metrics every process of ours may export: Kafka errors, dead letters, consumer and
projection lag (prometheus-client, default registry; names per Prometheus conventions).

Labels are bounded: topic names of one deployment, partition numbers, error kinds and codes,
projection names. Never a jobId, userId, title id or URL. Side-specific metrics live beside
their side: `streams.netflix.metrics` (jobs, upstream fetches), `projections.metrics` (database,
projections), `gateway.metrics` (HTTP, Socket.IO, rate limits).
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge

KAFKA_ERRORS = Counter(
    "streamproc_kafka_errors_total",
    "Kafka operations that failed, by kind (produce, consume, commit, admin, timeout).",
    ["kind"],
)
DLQ_RECORDS = Counter(
    "streamproc_dlq_records_total",
    "Records sent to a dead-letter topic, by the source topic and the error code.",
    ["topic", "code"],
)
CONSUMER_LAG = Gauge(
    "streamproc_consumer_lag_messages",
    "Records this process's consumer has not fetched yet (high watermark minus its position), by "
    "consumer (the worker's group id, or gateway-job-tail), topic and partition.",
    ["consumer", "topic", "partition"],
)
CONSUMER_GROUP_LAG = Gauge(
    "streamproc_consumer_group_lag_messages",
    "Records a consumer group has not committed yet (log end offset minus its committed offset), "
    "as the brokers see it, by group, topic and partition.",
    ["group", "topic", "partition"],
)
CONSUMER_GROUP_MEMBERS = Gauge(
    "streamproc_consumer_group_members",
    "Live members of a consumer group as the group coordinator describes it.",
    ["group"],
)
PROJECTION_LAG_EVENTS = Gauge(
    "streamproc_projection_lag_events",
    "Events in a read model's source topic not yet folded into it (all partitions).",
    ["projection"],
)
PROJECTION_LAG_SECONDS = Gauge(
    "streamproc_projection_lag_seconds",
    "Age of the oldest event not yet folded into a read model (0 when it is caught up).",
    ["projection"],
)
