"""A per-process tail of `netflix.job-events`: every event from the end of the log, handed on."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRecord

from streams import logs
from streams.errors import EventDecodeError
from streams.events import Envelope, decode
from streams.kafka import KAFKA_FAILURES, count_error, kafka_errors, short_cause
from streams.metrics import CONSUMER_LAG

log = logging.getLogger(__name__)

Deliver = Callable[[Envelope], Awaitable[None]]
RETRY_SECONDS = 1.0
TAIL_CONSUMER = "gateway-job-tail"  # the `consumer` label of this tail's lag


class JobEventTail:
    """Reads with no consumer group, so every gateway process gets every event. A record that
    cannot be decoded or delivered is logged and skipped; the tail never ends quietly."""

    def __init__(self, bootstrap: str, topic: str, deliver: Deliver) -> None:
        self.topic = topic
        self._bootstrap = bootstrap
        self._deliver = deliver
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task[None] | None = None
        self._lag_exported = 0.0

    async def start(self) -> None:
        consumer = AIOKafkaConsumer(
            self.topic,
            bootstrap_servers=self._bootstrap,
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="latest",
            client_id="streamproc-gateway-fanout",
        )
        try:
            async with kafka_errors(f"start the job fan-out on {self.topic}", self._bootstrap):
                await consumer.start()
                # Pin the start position now, so nothing appended after start-up is skipped.
                await consumer.seek_to_end()
                for tp in consumer.assignment():
                    await consumer.position(tp)
        except BaseException:
            await consumer.stop()
            raise
        self._consumer = consumer
        self._task = asyncio.create_task(self._run(consumer), name="job-fanout")

    async def stop(self) -> None:
        try:
            if self._task is not None:
                self._task.cancel()
                # However it ended (cancelled here, or died and said so), the consumer is closed.
                await asyncio.gather(self._task, return_exceptions=True)
        finally:
            if self._consumer is not None:
                await self._consumer.stop()

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def _run(self, consumer: AIOKafkaConsumer) -> None:
        try:
            while True:
                try:
                    batches = await consumer.getmany(timeout_ms=500, max_records=500)
                except KAFKA_FAILURES as exc:
                    count_error(exc)
                    log.warning(
                        "job fan-out consumer topic=%s error=%s; retrying", self.topic, short_cause(exc)
                    )
                    await asyncio.sleep(RETRY_SECONDS)
                    continue
                for records in batches.values():
                    for record in records:
                        await self.handle(record)
                await self._export_lag(consumer)
        except asyncio.CancelledError:
            log.info("job fan-out stopped topic=%s", self.topic)
            raise
        except BaseException:
            # Without this task no socket of this process hears of any job again: say so loudly.
            log.critical(
                "job fan-out died topic=%s: job events no longer reach this gateway's sockets",
                self.topic,
                exc_info=True,
            )
            raise

    async def _export_lag(self, consumer: AIOKafkaConsumer) -> None:
        """This tail's lag per partition (high watermark minus position), at most once a second."""
        now = asyncio.get_running_loop().time()
        if now - self._lag_exported < 1.0:
            return
        self._lag_exported = now
        for tp in consumer.assignment():
            highwater = consumer.highwater(tp)
            if highwater is None:  # nothing fetched from it yet
                continue
            position = await consumer.position(tp)
            CONSUMER_LAG.labels(TAIL_CONSUMER, tp.topic, str(tp.partition)).set(max(0, highwater - position))

    async def handle(self, record: ConsumerRecord[Any, Any]) -> None:
        """Decode and deliver one record; a bad one is logged and skipped, never fatal."""
        where = f"{record.topic}[{record.partition}]@{record.offset}"
        try:
            event = decode(record.value)
        except EventDecodeError as exc:
            # the worker's consumer dead-letters it; here it is only skipped
            log.warning("skipping undecodable job event at=%s error=%s", where, exc.message)
            return
        except Exception:
            log.exception("skipping job event the codec failed on at=%s", where)
            return
        try:
            # The job's id and correlation id on every line of its fan-out (and of the tasks
            # it starts); the next record starts clean.
            with logs.scope(**logs.event_fields(event)):
                await self._deliver(event)
        except Exception:
            # One event that cannot be emitted must not cost every later job its fan-out.
            log.exception(
                "skipping job event the fan-out could not deliver at=%s event_id=%s type=%s key=%s",
                where,
                event.id,
                event.type,
                event.key,
                extra=logs.event_fields(event),
            )
