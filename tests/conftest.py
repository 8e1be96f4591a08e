"""Shared fixtures: the real Kafka broker and Mongo-wire server for the session, per-test isolation."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from devstack import DevstackError, Services, provide_services
from projections.store import MongoStore
from streams.admin import deployment_topics, ensure_topics
from streams.settings import Settings
from streams.topics import TopicNames
from tests.support import isolated_settings


@pytest.fixture(scope="session")
def services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Services]:
    """Kafka and the database: from the environment, Docker, or local processes we start.

    Missing infrastructure fails loudly with how to get it; it never skips."""
    try:
        with provide_services(work_dir=tmp_path_factory.mktemp("devstack")) as found:
            yield found
    except DevstackError as exc:
        pytest.fail(f"no Kafka / MongoDB for the integration tests: {exc}", pytrace=False)


@pytest.fixture
def settings(services: Services) -> Settings:
    """A fresh deployment per test: its own topic prefix, consumer group and database."""
    return isolated_settings(services)


@pytest.fixture
async def topics(settings: Settings) -> TopicNames:
    names = TopicNames(settings.topic_prefix)
    await ensure_topics(settings.kafka_bootstrap_servers, deployment_topics(names))
    return names


@pytest.fixture
async def store(settings: Settings) -> AsyncIterator[MongoStore]:
    s = MongoStore(settings.mongodb_uri, settings.mongodb_database)
    yield s
    await s.client.drop_database(settings.mongodb_database)
    await s.close()


@pytest.fixture
def log_dir(tmp_path: Path) -> Path:
    return tmp_path
