"""Wires the worker: the Faust app, its agents (scrape + projections) and their dependencies."""

from __future__ import annotations

import logging
import os
import signal
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NoReturn

import faust

from projections.metrics import PROJECTION_EVENTS
from projections.queries import find_fresh_title
from projections.registry import LIVE, PROJECTIONS
from projections.store import MongoStore
from runtime import observe
from runtime.faust_app import create_app, meta_from_faust, raw_topic, topic_names
from streams.admin import ensure_deployment_topics, ensure_topics
from streams.consume import (
    BatchHandler,
    BatchProcessor,
    EnvelopeProcessor,
    Handler,
    Headers,
)
from streams.events import Envelope, encode
from streams.events.netflix import TitleData
from streams.kafka import KAFKA_FAILURES, count_error
from streams.netflix.fetch import NetflixFetcher
from streams.netflix.runner import DictTitleCache, ScrapeJobRunner
from streams.settings import Settings, SettingsError
from streams.topics import dlq_name, min_insync_replicas

log = logging.getLogger(__name__)


class FaustSink:
    """RecordSink over the Faust producer (so agents' writes share its connection and ordering)."""

    def __init__(self, app: faust.App) -> None:
        self.app = app
        self._pending: list[Awaitable[Any]] = []

    async def append(self, topic: str, event: Envelope, *, wait: bool = True) -> None:
        """Queue the event; with `wait`, return once it and every event queued before it are
        acknowledged. Intermediate job steps don't wait: one partition keeps them in order, and
        the job's terminal event waits for all of them."""
        try:
            future = await self.app.producer.send(
                topic, event.key.encode("utf-8"), encode(event), None, None, []
            )
        except KAFKA_FAILURES as exc:
            count_error(exc)
            raise
        self._pending.append(future)
        if wait:
            await self.flush()

    async def flush(self) -> None:
        pending, self._pending = self._pending, []
        for future in pending:
            try:
                await future
            except KAFKA_FAILURES as exc:
                count_error(exc)
                raise

    async def send_raw(self, topic: str, *, key: bytes | None, value: bytes | None, headers: Headers) -> None:
        try:
            await self.app.producer.send_and_wait(topic, key, value, None, None, list(headers))
        except KAFKA_FAILURES as exc:
            count_error(exc)
            raise


@dataclass
class Worker:
    settings: Settings
    app: faust.App
    store: MongoStore
    sink: FaustSink


def _register(worker: Worker, topic: str, name: str, handler: Handler) -> None:
    app = worker.app
    processor = EnvelopeProcessor(name=name, handler=handler, sink=worker.sink, dlq_topic=dlq_name)

    async def agent(stream: Any) -> AsyncIterator[None]:
        async for event in stream.events():
            # Faust acks the current event when it closes the stream, and a stop closes it from
            # another task while a job may be half done: one more reference until the job ends
            # makes that ack a no-op, so the next owner runs the job again (as for projections).
            event.message.incref()
            # EnvelopeProcessor handles every per-record error itself; only a dependency that
            # stays down escapes, and then the worker must stop without acking the record.
            try:
                await processor.process(event.value, meta_from_faust(event.message))
            except Exception as exc:
                log.critical("agent %s stopping the worker: %s", name, exc)
                await app.crash(exc)
                raise
            event.message.decref()  # done: the stream's own ack now commits it
            yield None

    app.agent(raw_topic(app, topic), name=name)(agent)


TITLE_CACHE = "title-cache"


def changelog_topics(settings: Settings) -> dict[str, dict[str, str]]:
    """The changelog topics Faust makes for this worker's tables (name -> configs, as Faust sets
    them; `ensure_topics` adds min.insync.replicas). `build_worker` checks the names."""
    app_id = settings.topic_prefix + settings.app_id  # as runtime.faust_app.create_app names it
    return {f"{app_id}-{TITLE_CACHE}-changelog": {"cleanup.policy": "compact"}}


async def ensure_worker_topics(settings: Settings) -> None:
    """Every topic the worker subscribes to, created (if missing) and known to the brokers before
    Faust starts: the deployment's topics and the title cache's changelog.

    Faust subscribes before it declares its changelog: on a cluster, a changelog created in that
    moment is missing from the subscription ("Ignoring missing topic"), the table then sees it
    with 0 partitions, and every cache write fails with PartitionsMismatch, each job
    dead-lettered half done. Found by tests/faults/test_broker_kill.py on a fresh deployment."""
    await ensure_deployment_topics(settings)
    await ensure_topics(
        settings.kafka_bootstrap_servers,
        changelog_topics(settings),
        partitions=settings.topic_partitions,
        replication_factor=settings.topic_replication_factor,
    )


# Test hook (crash tests only): "<agent>:<n>" SIGKILLs the worker right after the n-th batch that
# agent wrote, before Faust can acknowledge it, i.e. in the window exactly-once effect must cover.
CRASH_AFTER_WRITE_ENV = "STREAMPROC_CRASH_AFTER_WRITE"


def _crash_hook(name: str) -> Callable[[], None]:
    agent, _, count = os.environ.get(CRASH_AFTER_WRITE_ENV, "").partition(":")
    if agent != name or not count.isdigit():
        return lambda: None
    left = [int(count)]

    def after_write() -> None:
        left[0] -= 1
        if left[0] <= 0:
            log.warning("%s: killing the worker after a batch write, before its ack", CRASH_AFTER_WRITE_ENV)
            os.kill(os.getpid(), signal.SIGKILL)

    return after_write


def _stop_without_ack(name: str, why: object) -> NoReturn:
    """A projection batch that could not be written: end the process at once, loudly, so that
    nothing of Faust's stopping sequence can commit past it. It is redelivered after a restart,
    and what of it was written is skipped by position."""
    log.critical("agent %s: %s; exiting without acknowledging its batch", name, why)
    logging.shutdown()
    os._exit(70)


def _register_projection(
    worker: Worker, topic: str, name: str, handler: BatchHandler, *, projection: str
) -> None:
    app, settings = worker.app, worker.settings
    processor = BatchProcessor(
        name=name,
        handler=handler,
        sink=worker.sink,
        dlq_topic=dlq_name,
        retry_seconds=settings.projection_retry_seconds,
    )
    after_write = _crash_hook(name)

    async def agent(stream: Any) -> AsyncIterator[None]:
        async for events in stream.take_events(
            settings.projection_batch_max, within=settings.projection_batch_seconds
        ):
            # take_events acks the batch when its generator moves on *or is closed*, and Faust
            # closes it from another task while stopping, possibly mid-write. Holding one more
            # reference per message makes that ack a no-op until we drop ours after the write.
            for event in events:
                event.message.incref()
            records = [(event.value, meta_from_faust(event.message)) for event in events]
            try:
                await processor.process(records)
            except Exception as exc:  # noqa: BLE001 - retries are spent: stop, never ack
                _stop_without_ack(name, exc)
            after_write()
            PROJECTION_EVENTS.labels(projection).inc(len(records))
            for event in events:
                event.message.decref()  # written: take_events' own ack now commits them
            yield None

    app.agent(raw_topic(app, topic), name=name)(agent)


def build_worker(settings: Settings) -> Worker:
    app = create_app(settings)
    store = MongoStore(settings.mongodb_uri, settings.mongodb_database)
    worker = Worker(settings=settings, app=app, store=store, sink=FaustSink(app))
    names = topic_names(settings)

    # The read models: the same handlers `python -m projections.replay rebuild` replays through.
    for projection in PROJECTIONS.values():
        _register_projection(
            worker,
            names.name(projection.topic),
            projection.consumer,
            projection.projector(store, LIVE),
            projection=projection.name,
        )

    # The title cache: a changelog-backed table, so it survives a worker restart. No key/value
    # types: its changelog is JSON (str keys, dict values); a non-model value_type such as `dict`
    # breaks recovery (Faust calls `value_type.from_data`), which a restart test guards.
    cache_table = app.Table(
        TITLE_CACHE,
        default=None,
        partitions=settings.topic_partitions,
        help="title key -> {cachedAt, title}",
        # As on every topic of ours (ADR 0010): acks=all needs this many replicas in sync.
        extra_topic_configs={
            "min.insync.replicas": str(min_insync_replicas(settings.topic_replication_factor))
        },
    )
    fetcher = NetflixFetcher(
        settings.netflix_base_url,
        timeout_seconds=settings.scrape_timeout_seconds,
        max_attempts=settings.scrape_max_attempts,
        backoff_seconds=settings.scrape_backoff_seconds,
        accept_language=settings.accept_language,
    )

    async def find_title(country: str, title_id: str, newer_than: datetime) -> TitleData | None:
        return await find_fresh_title(store, country, title_id, newer_than=newer_than)

    runner = ScrapeJobRunner(
        sink=worker.sink,
        cache=DictTitleCache(cache_table, settings.cache_ttl_seconds),
        find_title=find_title,
        scraper=fetcher,
        topics=names,
        stale_after_seconds=settings.title_stale_after_seconds,
    )
    _register(worker, names.scrape_requests, "scrape-titles", runner)

    changelog = cache_table.changelog_topic.get_topic_name()
    if changelog not in changelog_topics(settings):  # ensure_worker_topics must make this one
        raise RuntimeError(f"Faust names the title cache's changelog {changelog}, not as changelog_topics()")

    @app.on_rebalance_complete.connect  # type: ignore[arg-type]  # mode types receivers oddly
    async def on_assigned(sender: Any, *_: Any, signal: Any, **__: Any) -> None:
        # Sent once this process's share of the partitions is assigned and its part of the title
        # cache is recovered, just before its agents resume: which title keys it now serves.
        actives = app.assignor.assigned_actives()
        mine = sorted(tp.partition for tp in actives if tp.topic == names.scrape_requests)
        log.info("partitions ready topic=%s partitions=%s", names.scrape_requests, mine)
        # Faust checks that a table's changelog matches its source topic only at the table's
        # first write, in the middle of a job, and then fails every job: refuse to run instead.
        # Seen when a topic's partitions were changed by hand, or topics made with another
        # TOPIC_PARTITIONS meet a changelog made with this one (docs/adr/0009-partitions.md).
        source_n = app.consumer.topic_partitions(names.scrape_requests)
        changelog_n = app.consumer.topic_partitions(changelog)
        if source_n and changelog_n and source_n != changelog_n:
            why = (
                f"the title cache's changelog {changelog} has {changelog_n} partitions but "
                f"{names.scrape_requests} has {source_n}: they must match "
                f"(TOPIC_PARTITIONS={settings.topic_partitions} only applies when a topic is created)"
            )
            log.critical("%s; see docs/adr/0009-partitions.md", why)
            await app.crash(SettingsError(why))

    observe.install(app, settings, names)

    @app.task  # type: ignore[untyped-decorator]  # Faust is untyped
    async def prepare() -> None:
        await store.ensure_indexes()
        log.info("worker ready app_id=%s topics_prefix=%r", app.conf.id, settings.topic_prefix)

    return worker
