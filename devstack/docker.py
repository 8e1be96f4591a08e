"""Docker engine detection and testcontainers-backed Kafka (cp-kafka 7.9.0) and mongo:7."""

from __future__ import annotations

import contextlib
import logging
import shutil
import subprocess
from collections.abc import Iterator
from typing import Any

from devstack.cache import Log

logger = logging.getLogger(__name__)

KAFKA_IMAGE = "confluentinc/cp-kafka:7.9.0"  # Confluent Platform 7.9 = Apache Kafka 3.9
MONGODB_IMAGE = "mongo:7"
PROBE_TIMEOUT = 5.0
CONTAINER_START_TIMEOUT = 180


def docker_available(timeout: float = PROBE_TIMEOUT) -> bool:
    """True if a Docker engine answers within `timeout` s (`docker info`, else the SDK's ping)."""
    cli = shutil.which("docker")
    if cli is not None:
        try:
            result = subprocess.run(
                [cli, "info", "--format", "{{.ServerVersion}}"],
                stdin=subprocess.DEVNULL,
                capture_output=True,
                timeout=timeout,
                check=False,
            )
        except (OSError, subprocess.SubprocessError) as exc:
            logger.debug("docker info failed: %r", exc)
            return False
        return result.returncode == 0 and bool(result.stdout.strip())
    try:
        import docker  # the SDK testcontainers uses; honours DOCKER_HOST

        client = docker.from_env(timeout=int(timeout))
        try:
            return bool(client.ping())
        finally:
            client.close()
    except Exception as exc:  # ImportError, DockerException, connection errors, ...
        logger.debug("docker ping failed: %r", exc)
        return False


def _kafka_container_class() -> Any:
    try:
        from testcontainers.community.kafka import KafkaContainer  # testcontainers >= 4.15
    except ImportError:
        from testcontainers.kafka import KafkaContainer  # older 4.x
    return KafkaContainer


def _mongodb_container_class() -> Any:
    try:
        from testcontainers.community.mongodb import MongoDbContainer
    except ImportError:
        from testcontainers.mongodb import MongoDbContainer
    return MongoDbContainer


def _start(container: Any, **kwargs: Any) -> None:
    """container.start(), removing the container again if it never became ready."""
    try:
        container.start(**kwargs)
    except BaseException:
        with contextlib.suppress(Exception):
            container.stop()
        raise


@contextlib.contextmanager
def kafka_container(*, log: Log = logger.info) -> Iterator[str]:
    """Run a single-node KRaft Kafka container; yield its bootstrap servers."""
    container = _kafka_container_class()(KAFKA_IMAGE).with_kraft()
    log(f"starting {KAFKA_IMAGE} with testcontainers ...")
    _start(container, timeout=CONTAINER_START_TIMEOUT)
    try:
        bootstrap = str(container.get_bootstrap_server())
        log(f"kafka container ready at {bootstrap}")
        yield bootstrap
    finally:
        container.stop()


@contextlib.contextmanager
def mongodb_container(*, log: Log = logger.info) -> Iterator[str]:
    """Run a mongo:7 container (root user test/test); yield its connection URI."""
    container = _mongodb_container_class()(MONGODB_IMAGE)
    log(f"starting {MONGODB_IMAGE} with testcontainers ...")
    _start(container)
    try:
        uri = str(container.get_connection_url()).rstrip("/") + "/"
        log(f"mongodb container ready at {uri}")
        yield uri
    finally:
        container.stop()
