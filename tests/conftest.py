"""Shared fixtures: the real Kafka broker and Mongo-wire server for the session, per-test isolation.

A module marked `both_mongo_servers` runs each of its tests that use `settings` or `store` on
the default server (SecantusDB, or whatever the environment names) and on FerretDB, a second,
independent implementation: the code must rely on MongoDB semantics, not one server's quirks.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from devstack import DevstackError, Services, provide_services, start_local_mongo
from projections.store import MongoStore
from streams.admin import deployment_topics, ensure_topics
from streams.settings import Settings
from streams.topics import TopicNames
from tests.support import isolated_settings

MONGO_SERVERS = ("default", "ferretdb")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    uses_db = {"settings", "store"} & set(metafunc.fixturenames)
    if uses_db and metafunc.definition.get_closest_marker("both_mongo_servers"):
        metafunc.parametrize("mongo_server", MONGO_SERVERS, indirect=True)


@pytest.fixture(scope="session")
def services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Services]:
    """Kafka and the database: from the environment, Docker, or local processes we start.

    Missing infrastructure fails loudly with how to get it; it never skips."""
    try:
        with provide_services(work_dir=tmp_path_factory.mktemp("devstack")) as found:
            yield found
    except DevstackError as exc:
        pytest.fail(f"no Kafka / MongoDB for the integration tests: {exc}", pytrace=False)


@pytest.fixture(scope="session")
def ferretdb_uri(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A second Mongo-wire server (FerretDB), started once, only if a test asks for it."""
    try:
        with start_local_mongo("ferretdb", tmp_path_factory.mktemp("ferretdb")) as uri:
            yield uri
    except DevstackError as exc:
        pytest.fail(f"no FerretDB for the both-servers tests: {exc}", pytrace=False)


@pytest.fixture
def mongo_server(request: pytest.FixtureRequest, services: Services) -> str:
    """The MongoDB URI of this test: the session's server unless parametrized to FerretDB."""
    if getattr(request, "param", "default") == "ferretdb":
        return str(request.getfixturevalue("ferretdb_uri"))
    return services.mongodb_uri


@pytest.fixture
def settings(request: pytest.FixtureRequest, services: Services, mongo_server: str) -> Settings:
    """A fresh deployment per test: its own topic prefix, consumer group and database. A test
    marked `single_partition` gets one partition per topic (TOPIC_PARTITIONS=1)."""
    if request.node.get_closest_marker("single_partition"):
        return isolated_settings(services, mongodb_uri=mongo_server, topic_partitions=1)
    return isolated_settings(services, mongodb_uri=mongo_server)


@pytest.fixture
async def topics(settings: Settings) -> TopicNames:
    names = TopicNames(settings.topic_prefix)
    await ensure_topics(
        settings.kafka_bootstrap_servers, deployment_topics(names), partitions=settings.topic_partitions
    )
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
