"""The topic settings table: what each project topic is created with, and the settings behind it."""

from __future__ import annotations

from pathlib import Path

import pytest

from streams import topics
from streams.admin import deployment_topics
from streams.settings import Settings, SettingsError
from streams.topics import TopicNames, min_insync_replicas, topic_configs

pytestmark = pytest.mark.unit

HOUR_MS = 3600 * 1000


def test_every_public_topic_and_its_dlq_has_an_entry() -> None:
    for public in topics.ALL_TOPICS:
        for name in (public, topics.dlq_name(public)):
            assert topic_configs(name, job_events_retention_hours=1)["cleanup.policy"], name


def test_titles_are_compacted_and_never_deleted() -> None:
    assert topic_configs(topics.TITLES, job_events_retention_hours=24) == {"cleanup.policy": "compact"}


def test_job_topics_are_kept_the_configured_hours() -> None:
    for name in (topics.JOB_EVENTS, topics.SCRAPE_REQUESTS):
        assert topic_configs(name, job_events_retention_hours=5) == {
            "cleanup.policy": "delete",
            "retention.ms": str(5 * HOUR_MS),
        }


def test_livestream_events_are_kept_forever_and_dead_letters_a_month() -> None:
    assert topic_configs(topics.LIVESTREAM_EVENTS, job_events_retention_hours=1)["retention.ms"] == "-1"
    for public in topics.ALL_TOPICS:
        dlq = topic_configs(topics.dlq_name(public), job_events_retention_hours=1)
        assert dlq == {"cleanup.policy": "delete", "retention.ms": str(30 * 24 * HOUR_MS)}


def test_other_topics_get_broker_defaults() -> None:
    for name in ("bench-123", "netflix.job-events.dlq.redriven", "x.dlq"):
        assert topic_configs(name, job_events_retention_hours=1) == {}


def test_deployment_topics_prefix_the_names_and_carry_the_retention() -> None:
    table = deployment_topics(TopicNames("p."), job_events_retention_hours=2)
    assert set(table) == {
        f"p.{name}{suffix}" for name in topics.ALL_TOPICS for suffix in ("", topics.DLQ_SUFFIX)
    }
    assert table["p.netflix.job-events"]["retention.ms"] == str(2 * HOUR_MS)
    assert table["p.netflix.titles"] == {"cleanup.policy": "compact"}
    default = deployment_topics(TopicNames())
    assert default["netflix.job-events"]["retention.ms"] == str(7 * 24 * HOUR_MS)


def test_min_insync_replicas_leaves_one_broker_to_spare() -> None:
    assert [min_insync_replicas(rf) for rf in (1, 2, 3, 5)] == [1, 2, 2, 2]


def test_replication_and_retention_settings() -> None:
    assert (Settings().topic_replication_factor, Settings().job_events_retention_hours) == (1, 168)
    s = Settings.from_env({"TOPIC_REPLICATION_FACTOR": "3", "JOB_EVENTS_RETENTION_HOURS": "48"})
    assert (s.topic_replication_factor, s.job_events_retention_hours) == (3, 48)
    assert Settings.from_env(s.to_env()) == s
    for bad in ({"TOPIC_REPLICATION_FACTOR": "0"}, {"JOB_EVENTS_RETENTION_HOURS": "1.5"}):
        with pytest.raises(SettingsError, match=next(iter(bad))):
            Settings.from_env(bad)


def test_faust_creates_its_changelog_topics_with_the_same_replicas(tmp_path: Path) -> None:
    from runtime.faust_app import create_app

    app = create_app(Settings(topic_replication_factor=3, faust_datadir=str(tmp_path)))
    assert app.conf.topic_replication_factor == 3
