"""The gateway's only way to change state: append events to Kafka (aiokafka), errors made ours."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from aiokafka import AIOKafkaProducer

from streams import logs
from streams.errors import UnavailableError
from streams.events import Envelope, encode
from streams.kafka import kafka_errors
from streams.metrics import KAFKA_ERRORS

log = logging.getLogger(__name__)


# How long an append may wait for its acknowledgement before the caller gets UnavailableError
# (a 503). aiokafka itself never gives up on a batch whose partition still names a leader: with
# two of three brokers down (no controller to elect another leader, and too few replicas in sync
# for acks=all) it retries for ever, and a request would hang with it.
APPEND_TIMEOUT_SECONDS = 10.0


class EventLog:
    """An idempotent producer; `append` returns once the broker has the event (acks=all), or
    raises UnavailableError after `append_timeout` seconds without an acknowledgement."""

    def __init__(self, bootstrap_servers: str, *, append_timeout: float = APPEND_TIMEOUT_SECONDS) -> None:
        self._bootstrap = bootstrap_servers
        self._append_timeout = append_timeout
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
        are handed to the producer in list order, so those on one partition stay in that order.

        Past the append timeout the caller gets UnavailableError while the producer may still
        deliver the events later: a 503 promises nothing (ADR 0002), it does not undo."""
        # The request's job or stream is known now, if its path did not name it (a new job or
        # stream): on every later line of the request (gateway/http/logcontext.py scopes it).
        if items:
            logs.bind(**{**logs.event_fields(items[0][1]), "eventType": None})
        what = " + ".join(f"{event.type} to {topic}" for topic, event in items)
        deadline = asyncio.get_running_loop().time() + self._append_timeout
        async with kafka_errors(f"append {what}", self._bootstrap):
            futures = []
            for topic, event in items:
                send = self._producer.send(topic, encode(event), key=event.key.encode("utf-8"))
                # send() itself waits for the topic's metadata; a cancelled send queued nothing
                futures.append(await asyncio.wait_for(send, self._left(deadline)))
            # asyncio.wait, not wait_for(gather): the delivery futures are the producer's own
            # and must not be cancelled under it.
            _, pending = await asyncio.wait(futures, timeout=self._left(deadline))
            if pending:
                KAFKA_ERRORS.labels("timeout").inc()
                raise UnavailableError(
                    f"Kafka at {self._bootstrap}: append {what} not acknowledged within "
                    f"{self._append_timeout:g} s (too few brokers or in-sync replicas?)"
                )
            stored = [future.result() for future in futures]
        for (topic, event), meta in zip(items, stored, strict=True):
            if not log.isEnabledFor(logging.DEBUG):
                break
            where = f"{topic}[{meta.partition}]@{meta.offset}"
            log.debug("appended type=%s id=%s at=%s", event.type, event.id, where)
        return [(meta.partition, meta.offset) for meta in stored]

    @staticmethod
    def _left(deadline: float) -> float:
        return max(0.0, deadline - asyncio.get_running_loop().time())

    async def check(self, timeout: float = 3.0) -> None:
        """Raise UnavailableError unless a broker answers a metadata request in time and every
        broker that metadata lists takes a connection.

        An answer alone is not enough: with two of three nodes down the survivor still answers,
        listing the dead nodes (no controller is left to fence them) as the leaders of their
        partitions, and no append can be acknowledged. A node that is down and fenced is no
        longer listed, so one node down in a healthy cluster is ready again once it is fenced."""
        client = self._producer.client
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        async with kafka_errors("metadata request", self._bootstrap):
            ok = await asyncio.wait_for(client.fetch_all_metadata(), timeout)
        brokers = sorted(ok.brokers(), key=lambda b: b.nodeId) if ok is not None else []
        if not brokers:
            raise UnavailableError("Kafka answered with no brokers")
        left = max(0.1, deadline - loop.time())
        answers = await asyncio.gather(*(_connects(b.host, b.port, left) for b in brokers))
        down = [
            f"node {b.nodeId} at {b.host}:{b.port}" for b, up in zip(brokers, answers, strict=True) if not up
        ]
        if down:
            raise UnavailableError(
                f"{len(down)} of the {len(brokers)} Kafka brokers in the metadata do not answer: "
                + ", ".join(down)
            )


async def _connects(host: str, port: int, timeout: float) -> bool:
    """Whether a TCP connection to host:port opens within `timeout` (then closed at once)."""
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    except (OSError, TimeoutError):
        return False
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True
