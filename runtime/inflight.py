"""Records of one Faust stream handled several at once, acknowledged in offset order per partition."""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)


@dataclass
class _Record:
    event: Any  # a faust Event
    done: bool = False


class InFlight:
    """Runs up to `limit` records' work at once and acknowledges each record only when it and
    every earlier record of its partition are done.

    Why not Faust's agent `concurrency`: its instances acknowledge in completion order, and
    faust-streaming 0.15.3 then commits past an unfinished record. `Consumer._new_offset`
    commits the first run of consecutive acknowledged offsets; its check for a hole before that
    run is skipped while the partition has no commit (or committed 0), and lets a hole of one
    offset through after a commit (`min(acked) - committed > 1`, where the committed offset is
    already the next one to read). A slow record overtaken by later ones was committed and, after
    a crash, lost (`tests/e2e/test_scrape_concurrency.py` saw it). Acknowledged in order, the
    acknowledged offsets are always a prefix, which Faust commits correctly.

    Each record gets one more reference (`incref`) when it starts, so the stream's own ack when
    the loop moves on is not the last; ours, given in order, is. A record whose work fails is
    never acknowledged, nor is anything after it on its partition: `on_error` stops the worker.
    """

    def __init__(
        self,
        stream: Any,
        limit: int,
        on_error: Callable[[BaseException], Awaitable[None]],
    ) -> None:
        self._stream = stream
        self._slots = asyncio.Semaphore(limit)
        self._on_error = on_error
        self._partitions: dict[Any, deque[_Record]] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    async def submit(self, event: Any, work: Callable[[], Awaitable[None]]) -> None:
        """Start `work` for `event` as soon as fewer than `limit` are running (back-pressure:
        the agent's loop reads no further meanwhile). The task copies the current context, so
        Faust's `current_event` (which a table write needs) stays this record's."""
        await self._slots.acquire()
        event.message.incref()
        record = _Record(event)
        self._partitions.setdefault(event.message.tp, deque()).append(record)
        where = f"{event.message.tp.topic}[{event.message.tp.partition}]@{event.message.offset}"
        task = asyncio.create_task(self._run(record, work), name=where)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, record: _Record, work: Callable[[], Awaitable[None]]) -> None:
        try:
            await work()
        except Exception as exc:  # noqa: BLE001 - left unacknowledged; the worker stops
            self._slots.release()
            await self._on_error(exc)
            return
        except BaseException:  # cancelled (the worker stops): left unacknowledged
            self._slots.release()
            raise
        self._slots.release()
        record.done = True
        await self._ack_done(record.event.message.tp)

    async def _ack_done(self, tp: Any) -> None:
        records = self._partitions.get(tp)
        while records and records[0].done:
            await self._stream.ack(records.popleft().event)
        if records is not None and not records:
            del self._partitions[tp]

    @property
    def running(self) -> int:
        return len(self._tasks)

    async def close(self) -> None:
        """Cancel the work still running (the agent is stopping): those records and the ones
        after them stay unacknowledged and are read again by the partition's next owner."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if tasks:
            log.info("stopped %d records in flight; they will be redelivered", len(tasks))
