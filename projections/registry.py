"""The projections the worker runs: topic, collections and handler of each, in one place.

The worker registers these handlers and `python -m projections.replay rebuild` replays the log
through the very same ones (given a store view pinned to fresh collections), so a rebuild can
never fold differently from the live worker.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from projections import jobs as jobs_model
from projections import titles as titles_model
from projections.fold import DocumentFold
from projections.livestream import livestream_handler
from projections.store import HISTORY, JOBS, STREAMS, TITLES, MongoStore
from streams import topics
from streams.pipeline import Handler


@dataclass(frozen=True, slots=True)
class Projection:
    name: str
    topic: str  # public topic name (the deployment's prefix goes in front)
    collections: tuple[str, ...]  # logical collection names it writes, in write order
    consumer: str  # the worker's agent name
    handler: Callable[[MongoStore], Handler]


def _jobs(store: MongoStore) -> Handler:
    return DocumentFold(lambda: store.jobs, jobs_model.doc_id, jobs_model.apply)


def _titles(store: MongoStore) -> Handler:
    return DocumentFold(lambda: store.titles, titles_model.doc_id, titles_model.apply)


PROJECTIONS: dict[str, Projection] = {
    p.name: p
    for p in (
        Projection("jobs", topics.JOB_EVENTS, (JOBS,), "project-jobs", _jobs),
        Projection("titles", topics.TITLES, (TITLES,), "project-titles", _titles),
        # participations are written before the stream document: same order for the aliases
        Projection(
            "livestream",
            topics.LIVESTREAM_EVENTS,
            (HISTORY, STREAMS),
            "project-livestream",
            livestream_handler,
        ),
    )
}
