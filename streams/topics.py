"""Topic names (a public contract), their keys, dead-letter names and the settings they are made with."""

from __future__ import annotations

from dataclasses import dataclass

SCRAPE_REQUESTS = "netflix.scrape-requests"
JOB_EVENTS = "netflix.job-events"
TITLES = "netflix.titles"
LIVESTREAM_EVENTS = "livestream.events"

ALL_TOPICS: tuple[str, ...] = (SCRAPE_REQUESTS, JOB_EVENTS, TITLES, LIVESTREAM_EVENTS)

DLQ_SUFFIX = ".dlq"

# Headers put on a dead-lettered record, beside the original record's own headers.
DLQ_HEADER_CODE = "x-error-code"
DLQ_HEADER_MESSAGE = "x-error-message"
DLQ_HEADER_TOPIC = "x-original-topic"
DLQ_HEADER_PARTITION = "x-original-partition"
DLQ_HEADER_OFFSET = "x-original-offset"
DLQ_HEADER_CONSUMER = "x-failed-consumer"


HOUR_MS = 3600 * 1000
RETAIN_FOREVER = "-1"
DLQ_RETENTION_MS = 30 * 24 * HOUR_MS  # a month to look at a dead letter and redrive it


def dlq_name(topic: str) -> str:
    return topic + DLQ_SUFFIX


def topic_configs(topic: str, *, job_events_retention_hours: int) -> dict[str, str]:
    """The topic-level configs a public topic (or `<topic>.dlq`) is created with: the one table
    (docs/adr/0010-topic-settings.md says why each). Any other topic gets none (broker defaults).

    - `netflix.titles` is compacted: its key is the title key and the titles read model keeps
      only the newest scrape per title, so the last record of each key rebuilds it.
    - job events and the scrape requests behind them are kept `job_events_retention_hours`: a
      job is over within minutes, and its read model is the lasting record.
    - `livestream.events` is kept forever: every history read model is rebuilt from offset 0,
      and one stream's events (its end, a late join) may be years apart.
    - dead letters are kept a month (DLQ_RETENTION_MS), long enough to notice and redrive them.
    """
    job_retention = str(job_events_retention_hours * HOUR_MS)
    table: dict[str, dict[str, str]] = {
        SCRAPE_REQUESTS: {"cleanup.policy": "delete", "retention.ms": job_retention},
        JOB_EVENTS: {"cleanup.policy": "delete", "retention.ms": job_retention},
        TITLES: {"cleanup.policy": "compact"},
        LIVESTREAM_EVENTS: {"cleanup.policy": "delete", "retention.ms": RETAIN_FOREVER},
    }
    if topic.endswith(DLQ_SUFFIX) and topic[: -len(DLQ_SUFFIX)] in table:
        return {"cleanup.policy": "delete", "retention.ms": str(DLQ_RETENTION_MS)}
    return dict(table.get(topic, {}))


def min_insync_replicas(replication_factor: int) -> int:
    """In-sync replicas an `acks=all` write needs: 2 once there are replicas to spare, so one
    broker may be down (RF 3) and no acknowledged write lives on one disk only."""
    return min(2, replication_factor)


def title_key(country: str, title_id: str) -> str:
    """The key of every record about one title: `<country>:<titleId>` (one partition owns a title)."""
    return f"{country.lower()}:{title_id}"


@dataclass(frozen=True, slots=True)
class TopicNames:
    """The concrete names for one deployment: the public names behind an optional prefix."""

    prefix: str = ""

    def name(self, topic: str) -> str:
        return self.prefix + topic

    @property
    def scrape_requests(self) -> str:
        return self.name(SCRAPE_REQUESTS)

    @property
    def job_events(self) -> str:
        return self.name(JOB_EVENTS)

    @property
    def titles(self) -> str:
        return self.name(TITLES)

    @property
    def livestream_events(self) -> str:
        return self.name(LIVESTREAM_EVENTS)

    def dlq(self, topic: str) -> str:
        """The dead-letter topic of a public topic name (prefixed like it)."""
        return dlq_name(self.name(topic))
