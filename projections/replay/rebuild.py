"""`rebuild <projection>`: replay its topic from offset 0 through the worker's own handler into
fresh collections, then switch the alias, then catch up with what the live worker did meanwhile.

1. Capture the end offsets E0; replay [beginning, E0) into `<name>__v<UTC stamp>` (indexes
   first) with the registry's projector behind the worker's BatchProcessor (same decoding,
   same retries; a record the worker would dead-letter is counted and skipped). One lane per
   partition, as the worker has: records of one entity stay in order.
2. Catch up to the newest end offsets until nothing is left (bounded passes).
3. `--verify`: wait until the live consumer group has committed that far, then compare.
4. Switch the aliases (one document write per collection), wait longer than the stores' alias
   cache, and catch up again from the switch position: records the live worker folded into the
   old collection during its last cache period are re-applied to the new one (folds are
   idempotent). Passes repeat until the log end did not move during one; a record the worker
   folds at the same moment as that last pass touches the same entity is the remaining race.

`--until` / `--into` build into a named collection and switch nothing.
"""

from __future__ import annotations

import asyncio
import gc
import logging
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import TextIO

from projections import aliases
from projections.registry import PROJECTIONS, Mode, Projection
from projections.replay import verify
from projections.replay.progress import Progress
from projections.replay.ranges import Bound, Range
from projections.replay.reader import Offsets, Record, Span, TopicReader
from projections.store import ALIAS_TTL_SECONDS, INDEXES, MongoStore
from streams.consume import BatchProcessor, Headers
from streams.errors import AppError, NotFoundError, ValidationError
from streams.events.envelope import utc_now
from streams.kafka import record_meta
from streams.settings import Settings
from streams.topics import (
    DLQ_HEADER_CODE,
    DLQ_HEADER_MESSAGE,
    DLQ_HEADER_OFFSET,
    DLQ_HEADER_PARTITION,
    TopicNames,
    dlq_name,
)

log = logging.getLogger(__name__)

# After a switch, wait this much longer than the alias cache before the final catch-up.
SWITCH_GRACE_SECONDS = 1.0
MAX_CATCH_UP_PASSES = 10


@dataclass(frozen=True, slots=True)
class RebuildOptions:
    projection: str
    verify: bool = False
    until: Bound | None = None
    into: str | None = None
    dry_run: bool = False
    drop_old: bool = False
    show: int = 20
    live_group: str | None = None
    verify_timeout: float = 30.0
    progress: bool | None = None
    connect_timeout: float = 10.0


class SkippedRecords:
    """The rebuild's RecordSink: the worker already dead-lettered these records, so they are
    counted and described, never sent anywhere."""

    def __init__(self, keep: int = 5) -> None:
        self.by_code: Counter[str] = Counter()
        self.samples: list[str] = []
        self.keep = keep

    async def send_raw(self, topic: str, *, key: bytes | None, value: bytes | None, headers: Headers) -> None:
        h = {k: v.decode("utf-8", "replace") for k, v in headers}
        code = h.get(DLQ_HEADER_CODE, "?")
        self.by_code[code] += 1
        if len(self.samples) < self.keep:
            where = f"[{h.get(DLQ_HEADER_PARTITION)}]@{h.get(DLQ_HEADER_OFFSET)}"
            self.samples.append(f"{where} {code}: {h.get(DLQ_HEADER_MESSAGE, '')[:160]}")

    @property
    def count(self) -> int:
        return sum(self.by_code.values())


@dataclass
class Replayer:
    """Feeds spans of the topic through one BatchProcessor (the worker's write path): records
    are gathered per partition up to `batch_records` a write, one lane per partition."""

    reader: TopicReader
    topic: str
    processor: BatchProcessor
    progress: Progress
    skipped: SkippedRecords
    applied: int = 0
    batch_records: int = 2000

    async def replay(self, span: Span) -> None:
        pending: dict[int, list[Record]] = {}
        async for fetched in self.reader.batches(span):
            for partition, records in fetched.items():
                pending.setdefault(partition, []).extend(records)
            full = {p: r for p, r in pending.items() if len(r) >= self.batch_records}
            if full:
                await self._lanes(full)
                for partition in full:
                    del pending[partition]
        if pending:
            await self._lanes(pending)

    async def _lanes(self, by_partition: dict[int, list[Record]]) -> None:
        try:
            async with asyncio.TaskGroup() as lanes:
                for records in by_partition.values():
                    lanes.create_task(self._lane(records))
        except BaseExceptionGroup as group:
            # A lane failed (a dependency stayed down): raise our error, not the group.
            first = next((e for e in group.exceptions if isinstance(e, AppError)), None)
            if first is None:
                raise
            raise first from group

    async def _lane(self, records: list[Record]) -> None:
        await self.processor.process([(r.value, record_meta(r)) for r in records])
        self.applied += len(records)
        self.progress.add(len(records))

    async def catch_up(self, position: Offsets) -> Offsets:
        """Replay from `position` to the newest end, until a pass finds nothing new."""
        for _ in range(MAX_CATCH_UP_PASSES):
            end = await self.reader.end_offsets(self.topic)
            if all(e <= position.get(p, 0) for p, e in end.items()):
                return position
            span = Span(self.topic, {p: position.get(p, 0) for p in end}, end)
            self.progress.retotal((self.progress.total or 0) + span.total())
            await self.replay(span)
            position = {p: max(position.get(p, 0), e) for p, e in end.items()}
        log.warning(
            "the log still moves after %d catch-up passes; stopping at %s",
            MAX_CATCH_UP_PASSES,
            position,
        )
        return position


@dataclass
class Plan:
    projection: Projection
    topic: str
    targets: dict[str, str]  # logical -> new physical, in write order
    old: dict[str, str]  # logical -> physical the reads use now
    switch: bool
    notes: list[str] = field(default_factory=list)


def projection_named(name: str) -> Projection:
    try:
        return PROJECTIONS[name]
    except KeyError:
        raise NotFoundError(
            f"unknown projection {name!r} (known: {', '.join(sorted(PROJECTIONS))})"
        ) from None


async def _free_name(store: MongoStore, base: str) -> str:
    name, n = base, 1
    while await aliases.collection_exists(store, name):
        n += 1
        name = f"{base}_{n}"
    return name


async def plan(store: MongoStore, settings: Settings, opts: RebuildOptions, now: datetime) -> Plan:
    projection = projection_named(opts.projection)
    if opts.verify and (opts.until is not None):
        raise ValidationError(
            "--verify compares with the live read model; --until builds a past state: use one or the other"
        )
    topic = TopicNames(settings.topic_prefix).name(projection.topic)
    old = {c: (await aliases.current(store, c)).collection for c in projection.collections}
    multi = len(projection.collections) > 1
    targets: dict[str, str] = {}
    for logical in projection.collections:
        if opts.into is not None:
            name = f"{opts.into}__{logical}" if multi else opts.into
        elif opts.until is not None:
            name = f"{store.prefix}{logical}__at_{opts.until.label()}"
        else:
            targets[logical] = await _free_name(
                store, f"{store.prefix}{logical}__v{now.strftime('%Y%m%d%H%M%S')}"
            )
            continue
        if await aliases.collection_exists(store, name):
            raise ValidationError(f"collection {name!r} already exists: drop it or choose --into")
        targets[logical] = name
    return Plan(projection, topic, targets, old, switch=opts.into is None and opts.until is None)


async def rebuild(
    settings: Settings, opts: RebuildOptions, out: TextIO, clock: Callable[[], datetime] = utc_now
) -> int:
    """Exit status: 0 done, 1 `--verify` found differences."""
    store = MongoStore(settings.mongodb_uri, settings.mongodb_database)
    try:
        async with TopicReader(
            settings.kafka_bootstrap_servers, connect_timeout=opts.connect_timeout
        ) as reader:
            await store.ping()
            with fewer_gc_passes():
                return await _rebuild(settings, opts, out, clock, store, reader)
    finally:
        await store.close()


@contextmanager
def fewer_gc_passes(threshold: tuple[int, int, int] = (200_000, 20, 100)) -> Iterator[None]:
    """A rebuild allocates millions of short-lived objects while it keeps a large document cache
    alive; at CPython's default thresholds the cyclic collector walks that cache over and over
    (300,000 events: 15.3 s -> 9.1 s with these). Restored afterwards."""
    before = gc.get_threshold()
    gc.set_threshold(*threshold)
    try:
        yield
    finally:
        gc.set_threshold(*before)


async def _rebuild(
    settings: Settings,
    opts: RebuildOptions,
    out: TextIO,
    clock: Callable[[], datetime],
    store: MongoStore,
    reader: TopicReader,
) -> int:
    def say(line: str) -> None:
        print(line, file=out, flush=True)

    p = await plan(store, settings, opts, clock())
    span = await reader.span(p.topic, Range(None, opts.until))
    where = ", ".join(f"{n}: {span.start[n]}..{span.end[n]}" for n in sorted(span.end))
    what = f"{p.projection.name} from {p.topic} ({span.total()} records; {where})"
    into = ", ".join(f"{c} -> {t}" for c, t in p.targets.items())
    if opts.dry_run:
        _describe_dry_run(p, opts, what, into, say)
        return 0

    say(f"rebuilding {what} into {into}")
    view = store.pinned(p.targets)
    replayer, position = await _fill(p, opts, view, reader, span, say)
    if not p.switch:
        say(f"built {into} at offsets {position}; no alias switched")
        if not opts.verify:
            return 0
        status, _ = await _verify(settings, opts, store, view, p, reader, replayer, position, say)
        return status
    status = 0
    if opts.verify:
        status, position = await _verify(settings, opts, store, view, p, reader, replayer, position, say)
    await _switch_and_catch_up(p, opts, store, view, replayer, position, clock, say)
    await _retire_old(p, opts, store, say)
    return status


def _describe_dry_run(
    p: Plan, opts: RebuildOptions, what: str, into: str, say: Callable[[str], None]
) -> None:
    say(f"would rebuild {what} into {into}" + (f" as at {opts.until}" if opts.until is not None else ""))
    if p.switch:
        say(
            "would then switch "
            + ", ".join(f"{c}: {p.old[c]} -> {p.targets[c]}" for c in p.targets)
            + ", catch up, and "
            + ("drop " if opts.drop_old else "keep ")
            + ", ".join(p.old.values())
        )
    if opts.verify:
        say("would compare with the live collections before switching")


async def _fill(
    p: Plan,
    opts: RebuildOptions,
    view: MongoStore,
    reader: TopicReader,
    span: Span,
    say: Callable[[str], None],
) -> tuple[Replayer, Offsets]:
    """Replay the span (and, when switching, what arrived meanwhile) into the new collections."""
    await view.ensure_indexes([c for c in p.targets if c in INDEXES])
    skipped = SkippedRecords()
    progress = Progress(f"rebuild {p.projection.name}", span.total(), enabled=opts.progress)
    # Nothing else writes the new collections until the switch: keep what was written in memory.
    processor = BatchProcessor(
        name=f"rebuild-{p.projection.name}",
        handler=p.projection.projector(view, Mode(sole_writer=True)),
        sink=skipped,
        dlq_topic=dlq_name,
    )
    replayer = Replayer(reader, p.topic, processor, progress, skipped)
    await replayer.replay(span)
    position = dict(span.end)
    if p.switch:
        position = await replayer.catch_up(position)
    progress.close()
    rate = replayer.applied / progress.elapsed() if progress.elapsed() > 0 else 0.0
    say(
        f"applied {replayer.applied} records in {progress.elapsed():.1f} s ({rate:.0f} events/s); "
        f"skipped {skipped.count} that do not decode or apply (the DLQ has them)"
        + (f": {dict(skipped.by_code)}" if skipped.count else "")
    )
    for sample in skipped.samples:
        say(f"  skipped {sample}")
    return replayer, position


async def _switch_and_catch_up(
    p: Plan,
    opts: RebuildOptions,
    store: MongoStore,
    view: MongoStore,
    replayer: Replayer,
    position: Offsets,
    clock: Callable[[], datetime],
    say: Callable[[str], None],
) -> None:
    await aliases.switch(store, p.projection.name, p.targets, p.old, position, clock())
    say(
        "switched "
        + ", ".join(f"{c}: {p.old[c]} -> {p.targets[c]}" for c in p.targets)
        + f" at offsets {position}"
    )
    # Every store trusts its alias map for ALIAS_TTL_SECONDS: after this wait no writer uses the
    # old collections any more, and whatever it wrote there is in the log up to the end offsets
    # the catch-up reads next.
    await asyncio.sleep(ALIAS_TTL_SECONDS + SWITCH_GRACE_SECONDS)
    before = replayer.applied
    # The live worker writes these collections now: read what it wrote (no cache), and re-apply
    # records at or below a document's position too: the worker may have folded them into the
    # old collection during its alias cache period, then later records into the new one.
    replayer.processor.handler = p.projection.projector(view, Mode(skip_applied=False))
    replayer.progress = Progress("catch up", 0, enabled=opts.progress)
    position = await replayer.catch_up(position)
    replayer.progress.close()
    await aliases.record_catch_up(store, list(p.targets), position, clock())
    say(f"caught up to offsets {position} ({replayer.applied - before} records after the switch)")


async def _retire_old(p: Plan, opts: RebuildOptions, store: MongoStore, say: Callable[[str], None]) -> None:
    for logical, old in p.old.items():
        if old == p.targets[logical]:
            continue
        if opts.drop_old:
            await aliases.drop(store, old)
            say(f"dropped old collection {old}")
        else:
            say(f"kept old collection {old} (drop it when no longer needed, or use --drop-old)")


async def _verify(
    settings: Settings,
    opts: RebuildOptions,
    store: MongoStore,
    view: MongoStore,
    p: Plan,
    reader: TopicReader,
    replayer: Replayer,
    position: Offsets,
    say: Callable[[str], None],
) -> tuple[int, Offsets]:
    """Exit status (1: differences) and the position both sides were compared at."""
    group = opts.live_group or settings.topic_prefix + settings.app_id
    position = await verify.settle(
        settings.kafka_bootstrap_servers,
        group,
        p.topic,
        position,
        lambda: reader.end_offsets(p.topic),
        replayer.catch_up,
        opts.verify_timeout,
        lambda text: say(f"note: {text}"),
    )
    total = 0
    for logical in p.targets:
        diff = await verify.compare(await store.collection(logical), await view.collection(logical))
        total += diff.count
        for line in verify.report(diff, await store.physical_name(logical), p.targets[logical], opts.show):
            say(line)
    return (1 if total else 0), position
