"""The event catalog: every (type, version) with its payload model, topic and description."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel

from streams import topics
from streams.events import livestream as ls
from streams.events import netflix as nf
from streams.events.upcasters import UPCASTERS, Upcaster


@dataclass(frozen=True, slots=True)
class EventSpec:
    event_type: str  # not `type`: that would shadow the builtin in the class body (mypy)
    version: int
    model: type[BaseModel]
    topic: str
    description: str


class EventCatalog:
    """Looks up payload models by (type, version) and knows the upcaster chain to the latest."""

    def __init__(self, specs: list[EventSpec], upcasters: dict[tuple[str, int], Upcaster]) -> None:
        self._specs: dict[tuple[str, int], EventSpec] = {}
        self._by_model: dict[type[BaseModel], EventSpec] = {}
        self._latest: dict[str, int] = {}
        for spec in specs:
            key = (spec.event_type, spec.version)
            if key in self._specs:
                raise ValueError(f"duplicate catalog entry {key}")
            self._specs[key] = spec
            self._by_model[spec.model] = spec
            self._latest[spec.event_type] = max(self._latest.get(spec.event_type, 0), spec.version)
        for etype, latest in self._latest.items():
            for version in range(1, latest):
                if (etype, version) in self._specs and (etype, version) not in upcasters:
                    raise ValueError(f"{etype} v{version} has no upcaster to v{version + 1}")
        self._upcasters = dict(upcasters)

    def spec(self, event_type: str, version: int) -> EventSpec | None:
        return self._specs.get((event_type, version))

    def spec_for_model(self, model: type[BaseModel]) -> EventSpec:
        try:
            return self._by_model[model]
        except KeyError:
            raise ValueError(f"{model.__name__} is not a cataloged payload") from None

    def latest(self, event_type: str) -> int | None:
        return self._latest.get(event_type)

    def upcaster(self, event_type: str, version: int) -> Upcaster | None:
        return self._upcasters.get((event_type, version))

    def specs(self) -> list[EventSpec]:
        return sorted(self._specs.values(), key=lambda s: (s.topic, s.event_type, s.version))


def _spec(etype: str, version: int, model: type[BaseModel], topic: str, text: str) -> EventSpec:
    return EventSpec(etype, version, model, topic, text)


CATALOG = EventCatalog(
    [
        _spec(
            "scrape.requested",
            1,
            nf.ScrapeRequested,
            topics.SCRAPE_REQUESTS,
            "A client asked for a Netflix title; key is the title key.",
        ),
        _spec(
            "job.created",
            1,
            nf.JobCreated,
            topics.JOB_EVENTS,
            "A title job was accepted (progress 0, pending).",
        ),
        _spec(
            "job.progress",
            1,
            nf.JobProgressV1,
            topics.JOB_EVENTS,
            "Superseded: a job step with the step code in `step`.",
        ),
        _spec(
            "job.progress",
            2,
            nf.JobProgress,
            topics.JOB_EVENTS,
            "A job reached a step: description in `step`, code in `stepCode`.",
        ),
        _spec(
            "job.completed",
            1,
            nf.JobCompleted,
            topics.JOB_EVENTS,
            "A job ended with the title data and where it came from.",
        ),
        _spec(
            "job.failed", 1, nf.JobFailed, topics.JOB_EVENTS, "A job ended with an error code and message."
        ),
        _spec(
            "title.scraped", 1, nf.TitleScraped, topics.TITLES, "A title was fetched from Netflix and parsed."
        ),
        _spec(
            "stream.created",
            1,
            ls.StreamCreated,
            topics.LIVESTREAM_EVENTS,
            "A live stream was created; its creator is the host.",
        ),
        _spec(
            "stream.updated",
            1,
            ls.StreamUpdated,
            topics.LIVESTREAM_EVENTS,
            "Descriptive fields of a stream changed.",
        ),
        _spec("stream.started", 1, ls.StreamStarted, topics.LIVESTREAM_EVENTS, "A stream went live."),
        _spec("stream.ended", 1, ls.StreamEnded, topics.LIVESTREAM_EVENTS, "A stream ended."),
        _spec(
            "stream.deleted",
            1,
            ls.StreamDeleted,
            topics.LIVESTREAM_EVENTS,
            "A stream was soft-deleted by its creator.",
        ),
        _spec(
            "participant.joined",
            1,
            ls.ParticipantJoined,
            topics.LIVESTREAM_EVENTS,
            "An authenticated user joined a stream with a role.",
        ),
    ],
    UPCASTERS,
)
