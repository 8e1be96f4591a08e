"""`rebuild --verify`: compare a rebuilt read model with the live one, document by document,
once the live worker has applied the same records (its consumer group's committed offsets)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aiokafka import TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from pymongo.asynchronous.collection import AsyncCollection

from projections.replay.reader import Offsets
from projections.store import Doc, mongo_errors
from streams.kafka import kafka_errors

MISSING = object()
# Bookkeeping, not content: the offset of the record that wrote the document last. It is
# compared and shown, but a document differing only there is not counted as a difference: the
# catch-up after a switch re-applies records the live worker folded into the old collection,
# possibly after later records of the same entity that the worker already folded into the new
# one, so the last write can be an earlier offset while the content is the same.
POSITION = "position"


@dataclass
class Differences:
    """What differs in one collection: `changed` holds (_id, [field path: live -> rebuilt])."""

    collection: str
    only_live: list[Any] = field(default_factory=list)
    only_rebuilt: list[Any] = field(default_factory=list)
    changed: list[tuple[Any, list[str]]] = field(default_factory=list)
    position_only: list[tuple[Any, list[str]]] = field(default_factory=list)
    compared: int = 0

    @property
    def count(self) -> int:
        return len(self.only_live) + len(self.only_rebuilt) + len(self.changed)


def _short(value: Any, limit: int = 80) -> str:
    text = "<absent>" if value is MISSING else repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def field_differences(live: Any, rebuilt: Any, path: str = "") -> list[str]:
    """Paths whose values differ, descending into sub-documents (lists compare whole)."""
    if isinstance(live, dict) and isinstance(rebuilt, dict):
        out: list[str] = []
        for key in sorted(set(live) | set(rebuilt), key=str):
            sub = f"{path}.{key}" if path else str(key)
            out += field_differences(live.get(key, MISSING), rebuilt.get(key, MISSING), sub)
        return out
    # bool is an int in Python: True == 1 must still count as a difference
    if live == rebuilt and type(live) is type(rebuilt):
        return []
    return [f"{path or '<document>'}: live={_short(live)} rebuilt={_short(rebuilt)}"]


async def compare(live: AsyncCollection[Doc], rebuilt: AsyncCollection[Doc]) -> Differences:
    """Every document by `_id`, every field (see POSITION for the one that is not counted)."""
    diff = Differences(live.name)
    async with mongo_errors(f"read {rebuilt.name}"):
        fresh: dict[Any, Doc] = {doc["_id"]: doc async for doc in rebuilt.find({})}
    async with mongo_errors(f"read {live.name}"):
        async for doc in live.find({}):
            diff.compared += 1
            other = fresh.pop(doc["_id"], None)
            if other is None:
                diff.only_live.append(doc["_id"])
                continue
            fields = field_differences(doc, other)
            if fields and all(f.startswith(POSITION + ".") or f.startswith(POSITION + ":") for f in fields):
                diff.position_only.append((doc["_id"], fields))
            elif fields:
                diff.changed.append((doc["_id"], fields))
    diff.only_rebuilt = sorted(fresh, key=str)
    return diff


def report(diff: Differences, live_name: str, rebuilt_name: str, first: int) -> list[str]:
    lines: list[str] = []
    if not diff.count:
        lines.append(f"{live_name} == {rebuilt_name}: {diff.compared} documents, no differences")
    else:
        lines.append(
            f"{live_name} != {rebuilt_name}: {diff.count} differences "
            f"({len(diff.changed)} changed, {len(diff.only_live)} only in live, "
            f"{len(diff.only_rebuilt)} only in rebuilt); first {first}:"
        )
        items: list[str] = []
        for doc_id, fields in diff.changed:
            items += [f"  changed {doc_id!r}: {f}" for f in fields]
        items += [f"  only in live: {doc_id!r}" for doc_id in diff.only_live]
        items += [f"  only in rebuilt: {doc_id!r}" for doc_id in diff.only_rebuilt]
        lines += items[:first]
    if diff.position_only:
        lines.append(
            f"  note: {len(diff.position_only)} documents differ only in `{POSITION}` "
            "(the offset of their last write; a catch-up after a switch may apply an "
            "earlier record last), not counted:"
        )
        lines += [
            f"  position {doc_id!r}: {'; '.join(fields)}" for doc_id, fields in diff.position_only[:first]
        ]
    return lines


async def group_offsets(bootstrap: str, group: str, topic: str) -> Offsets | None:
    """The offsets `group` committed on `topic`; None when the broker knows no such group."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10000)
    async with kafka_errors(f"committed offsets of group {group}", bootstrap):
        await admin.start()
        try:
            groups = {g[0] for g in await admin.list_consumer_groups()}
            if group not in groups:
                return None
            found: Mapping[TopicPartition, Any] = await admin.list_consumer_group_offsets(group)
        finally:
            await admin.close()
    return {
        tp.partition: int(meta.offset)
        for tp, meta in found.items()
        if tp.topic == topic and meta is not None and meta.offset >= 0
    }


async def settle(
    bootstrap: str,
    group: str,
    topic: str,
    position: Offsets,
    end_offsets: Callable[[], Awaitable[Offsets]],
    catch_up: Callable[[Offsets], Awaitable[Offsets]],
    wait_seconds: float,
    note: Callable[[str], None],
) -> Offsets:
    """Bring the rebuild and the live worker to the same log position before comparing: wait
    for the live group to commit up to `position`; if the log moved meanwhile, catch up and wait
    again. Under steady traffic this cannot settle: after `wait_seconds` it says so, returns."""
    deadline = time.monotonic() + wait_seconds
    while True:
        committed = await group_offsets(bootstrap, group, topic)
        if committed is None:
            note(f"no consumer group {group!r} on the broker: comparing with the live collection as it is")
            return position
        if all(committed.get(p, 0) >= o for p, o in position.items()):
            end = await end_offsets()
            if all(end[p] <= position.get(p, 0) for p in end):
                return position
            position = await catch_up(position)
            continue
        if time.monotonic() > deadline:
            note(
                f"live group {group!r} committed {committed}, behind the rebuild at {position} "
                f"after {wait_seconds:.0f} s: differences may be its lag"
            )
            return position
        await asyncio.sleep(0.3)
