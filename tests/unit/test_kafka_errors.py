"""aiokafka's failures become UnavailableError at one boundary, and each is counted by kind."""

from __future__ import annotations

import pytest
from aiokafka.errors import KafkaConnectionError, NotLeaderForPartitionError
from prometheus_client import REGISTRY

from streams.errors import UnavailableError
from streams.kafka import kafka_errors
from streams.metrics import KAFKA_ERRORS

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("exc", "kind"),
    [
        (TimeoutError(), "timeout"),
        (KafkaConnectionError("refused"), "connection"),
        (ConnectionRefusedError(), "connection"),
        (NotLeaderForPartitionError(), "broker"),
    ],
    ids=["timeout", "kafka-connection", "socket", "broker"],
)
async def test_a_kafka_failure_is_translated_and_counted(exc: BaseException, kind: str) -> None:
    KAFKA_ERRORS.labels(kind)  # the series exists from 0
    before = REGISTRY.get_sample_value("streamproc_kafka_errors_total", {"kind": kind})
    assert before is not None
    with pytest.raises(UnavailableError, match="Kafka at b:9092: append x failed"):
        async with kafka_errors("append x", "b:9092"):
            raise exc
    assert REGISTRY.get_sample_value("streamproc_kafka_errors_total", {"kind": kind}) == before + 1
