"""Concurrent work on one agent's records, acknowledged in offset order per partition (ADR 0012)."""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

import faust

log = logging.getLogger(__name__)


class _Running:
    """One record being worked on: its Faust event, and whether its work is done."""

    __slots__ = ("done", "event")

    def __init__(self, event: Any) -> None:
        self.event = event
        self.done = False


class InOrderAcks:
    """Up to `limit` records of one agent worked on at once, records with one Kafka key (one
    title) one after the other, and each record acknowledged only once it and every earlier
    record of its partition are done (ADR 0012).

    Not Faust's agent `concurrency`: its instances ack in completion order, and faust-streaming
    0.15.3's `Consumer._new_offset` then commits past a record still running (no hole check
    before a partition's first commit; a hole of one offset let through after it). Acked in
    offset order, a partition's acked offsets are always a prefix, which it commits right.

    Each record holds one more reference (`incref`) from the start: Faust's own acks (the
    stream's when the loop moves on, or when a stop closes the stream with this record still
    running) are then never the last; ours is. A record fetched before a rebalance (an older
    consumer generation) is never acked by us: Faust seeks every partition back to its committed
    offset after a rebalance, so the new owner, maybe this worker, reads it again. A record
    whose work fails is never acked, nor anything after it on its partition; the worker stops."""

    def __init__(self, app: faust.App, name: str, limit: int, work: Callable[[Any], Awaitable[None]]) -> None:
        self._app = app
        self._name = name
        self._work = work
        self._slots = asyncio.Semaphore(limit)
        self._partitions: dict[tuple[Any, Any], deque[_Running]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._keys: dict[bytes | None, tuple[asyncio.Lock, int]] = {}

    async def submit(self, event: Any) -> None:
        """Start the record's work once fewer than `limit` run (until then the agent reads no
        further). The task copies this context, so Faust's current event (which a table write
        needs) is this record's."""
        message = event.message
        # The reference first: a stop while this waits for a slot closes the stream, and its
        # ack of the current event (this one, not started yet) must not be the last.
        message.incref()
        running = _Running(event)
        self._partitions.setdefault((message.tp, message.generation_id), deque()).append(running)
        await self._slots.acquire()
        where = f"{message.tp.topic}[{message.tp.partition}]@{message.offset}"
        task = asyncio.create_task(self._run(running), name=where)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, running: _Running) -> None:
        message = running.event.message
        try:
            await self._one_per_key(message.key, running.event)
        except Exception as exc:  # noqa: BLE001 - a dependency that stays down: stop, never ack
            log.critical("agent %s stopping the worker: %s", self._name, exc)
            await self._app.crash(exc)
            return
        finally:
            self._slots.release()
        running.done = True
        self._ack_done((message.tp, message.generation_id))

    async def _one_per_key(self, key: bytes | None, event: Any) -> None:
        """The work, after every earlier record with this key (asyncio.Lock is first come,
        first served): so N requests for one title fetch it once, the rest hit the cache."""
        lock, users = self._keys.get(key, (asyncio.Lock(), 0))
        self._keys[key] = (lock, users + 1)
        try:
            async with lock:
                await self._work(event)
        finally:
            lock, users = self._keys[key]
            if users == 1:
                del self._keys[key]
            else:
                self._keys[key] = (lock, users - 1)

    def _ack_done(self, where: tuple[Any, Any]) -> None:
        records = self._partitions.get(where)
        current = getattr(self._app, "consumer_generation_id", None)
        while records and records[0].done:
            event = records.popleft().event
            message = event.message
            if message.generation_id == current:
                # The last reference: Faust marks the offset committable.
                if event.ack():
                    self._app.sensors.on_message_out(message.tp, message.offset, message)
            else:
                log.info(
                    "agent %s: not acknowledging %s@%s from before a rebalance (read again)",
                    self._name,
                    message.tp,
                    message.offset,
                )
        if records is not None and not records:
            del self._partitions[where]

    async def close(self) -> None:
        """The agent stops: cancel the records still running. They and every record after them
        on their partition stay unacknowledged, and are read again by the partition's next owner."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if tasks:
            log.info("agent %s: stopped %d jobs in flight; they will be run again", self._name, len(tasks))
