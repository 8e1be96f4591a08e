"""Topic names (a public contract), their keys and dead-letter names."""

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


def dlq_name(topic: str) -> str:
    return topic + DLQ_SUFFIX


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
