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
        async with kafka_errors(f"append {event.type} to {topic}", self._bootstrap):
            meta = await self._producer.send_and_wait(topic, encode(event), key=event.key.encode("utf-8"))
        log.debug(
            "appended type=%s id=%s at=%s[%d]@%d", event.type, event.id, topic, meta.partition, meta.offset
        )
        return meta.partition, meta.offset

    async def check(self, timeout: float = 3.0) -> None:
        """Raise UnavailableError unless the broker answers a metadata request in time."""
        client = self._producer.client
        async with kafka_errors("metadata request", self._bootstrap):
            ok = await asyncio.wait_for(client.fetch_all_metadata(), timeout)
        if ok is None or not ok.brokers():
            raise UnavailableError("Kafka answered with no brokers")
