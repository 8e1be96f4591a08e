"""The gateway's only way to change state: append events to Kafka (aiokafka), errors made ours."""

from __future__ import annotations

import asyncio
import logging

from aiokafka import AIOKafkaProducer

from streams.errors import UnavailableError
from streams.events import Envelope, encode
from streams.kafka import kafka_errors

log = logging.getLogger(__name__)


class EventLog:
    """An idempotent producer; `append` returns once the broker has the event (acks=all)."""

    def __init__(self, bootstrap_servers: str) -> None:
        self._bootstrap = bootstrap_servers
        self._producer_: AIOKafkaProducer | None = None
        self._started = False

    @property
    def _producer(self) -> AIOKafkaProducer:
        if self._producer_ is None:
            raise UnavailableError("the event log is not started")
        return self._producer_

    async def start(self) -> None:
        # aiokafka binds to the running loop: create the producer here, not in __init__.
        self._producer_ = AIOKafkaProducer(
            bootstrap_servers=self._bootstrap,
            acks="all",
            enable_idempotence=True,
            linger_ms=0,
            request_timeout_ms=15000,
            client_id="streamproc-gateway",
        )
        try:
            async with kafka_errors("connect", self._bootstrap):
                await self._producer.start()
        except UnavailableError:
            await self._producer.stop()
            raise
        self._started = True

    async def stop(self) -> None:
        if self._started:
            await self._producer.stop()
            self._started = False

    async def append(self, topic: str, event: Envelope) -> tuple[int, int]:
        """(partition, offset) of the stored event."""
        return (await self.append_all([(topic, event)]))[0]

    async def append_all(self, items: list[tuple[str, Envelope]]) -> list[tuple[int, int]]:
        """Send every event before awaiting any: one broker round trip for all of them, not
        one each. Returns once all are stored; (partition, offset) of each, in order. Events
        are handed to the producer in list order, so those on one partition stay in that order."""
        what = " + ".join(f"{event.type} to {topic}" for topic, event in items)
        async with kafka_errors(f"append {what}", self._bootstrap):
            futures = [
                await self._producer.send(topic, encode(event), key=event.key.encode("utf-8"))
                for topic, event in items
            ]
            stored = await asyncio.gather(*futures)
        for (topic, event), meta in zip(items, stored, strict=True):
            if not log.isEnabledFor(logging.DEBUG):
                break
            where = f"{topic}[{meta.partition}]@{meta.offset}"
            log.debug("appended type=%s id=%s at=%s", event.type, event.id, where)
        return [(meta.partition, meta.offset) for meta in stored]

    async def check(self, timeout: float = 3.0) -> None:
        """Raise UnavailableError unless the broker answers a metadata request in time."""
        client = self._producer.client
        async with kafka_errors("metadata request", self._bootstrap):
            ok = await asyncio.wait_for(client.fetch_all_metadata(), timeout)
        if ok is None or not ok.brokers():
            raise UnavailableError("Kafka answered with no brokers")
