"""The Faust adapter: the app built from Settings, raw-bytes topics, and record metadata."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import faust

from streams.consume import RecordMeta
from streams.kafka import record_meta
from streams.settings import Settings
from streams.topics import TopicNames


def broker_urls(bootstrap_servers: str) -> list[str]:
    return [f"kafka://{host.strip()}" for host in bootstrap_servers.split(",") if host.strip()]


def create_app(settings: Settings) -> faust.App:
    """A Faust app for one deployment (the topic prefix also prefixes the app id / group)."""
    app_id = settings.topic_prefix + settings.app_id
    # Faust keeps a small per-app directory; tables live in memory and in their changelog, so it
    # holds nothing to keep: out of the working tree. Faust does not create it itself.
    datadir = Path(settings.faust_datadir or Path(tempfile.gettempdir()) / "streamproc-faust")
    datadir.mkdir(parents=True, exist_ok=True)
    return faust.App(
        app_id,
        datadir=str(datadir / f"{app_id}-data"),
        broker=broker_urls(settings.kafka_bootstrap_servers),
        # Tables live in memory and are rebuilt from their changelog topic on start.
        store="memory://",
        # No standby replicas: with the in-memory store they cannot speed up a failover. A standby
        # copy has no persisted offset, so Faust recovers a partition it promotes to active from
        # the changelog's start anyway, as it does for any newly assigned one (compacted: one
        # record per cached title). Standbys would only double the changelog reads (ADR 0009).
        table_standby_replicas=0,
        web_enabled=False,
        autodiscover=False,
        topic_partitions=settings.topic_partitions,
        # Faust creates its changelog topics itself: the same replicas as ours (ADR 0010).
        topic_replication_factor=settings.topic_replication_factor,
        topic_disable_leader=True,
        consumer_auto_offset_reset="earliest",
        # Every job step is user-visible latency: send at once rather than batch.
        producer_linger=0.0,
        producer_acks=-1,
        broker_commit_interval=1.0,
        # A killed worker's partitions move to the others (or to its restart) within this, not
        # Kafka's 60 s default: its uncommitted batches are redelivered and skipped by position.
        broker_session_timeout=10.0,
        broker_heartbeat_interval=2.0,
        stream_wait_empty=False,
        # Our values are JSON envelopes we encode ourselves: never Faust's Record codec.
        key_serializer="raw",
        value_serializer="raw",
    )


def raw_topic(app: faust.App, name: str, *, partitions: int | None = None) -> faust.TopicT:
    """A topic of undecoded bytes: decoding (and dead-lettering) is ours, not Faust's."""
    return app.topic(
        name,
        key_type=bytes,
        value_type=bytes,
        key_serializer="raw",
        value_serializer="raw",
        partitions=partitions,
        allow_empty=True,
    )


def topic_names(settings: Settings) -> TopicNames:
    return TopicNames(settings.topic_prefix)


def meta_from_faust(message: Any) -> RecordMeta:
    """RecordMeta from a Faust Message (its timestamp is already in seconds)."""
    return record_meta(message, timestamp_unit=1.0)
