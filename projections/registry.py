"""The projections the worker runs: topic, collections and handler of each, in one place.

The worker registers these handlers and `python -m projections.replay rebuild` replays the log
through the very same ones (given a store view pinned to fresh collections), so a rebuild can
never fold differently from the live worker.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from types import ModuleType

from projections import jobs as jobs_model
from projections import titles as titles_model
from projections.fold import DocCache, DocumentFold, Projector
from projections.livestream import LivestreamFold
from projections.store import HISTORY, JOBS, STREAMS, TITLES, MongoStore
from streams import topics


@dataclass(frozen=True, slots=True)
class Projection:
    name: str
    topic: str  # public topic name (the deployment's prefix goes in front)
    collections: tuple[str, ...]  # logical collection names it writes, in write order
    consumer: str  # the worker's agent name
    projector: Callable[[MongoStore, Mode], Projector]


@dataclass(frozen=True, slots=True)
class Mode:
    """How a projector runs. The worker: defaults. A rebuild filling collections nobody else
    writes: `sole_writer` (keep what it wrote in memory instead of reading it back). The
    catch-up after a rebuild's alias switch: `skip_applied=False` (see DocumentFold)."""

    sole_writer: bool = False
    skip_applied: bool = True


LIVE = Mode()


def _document_fold(collection: str, model: ModuleType) -> Callable[[MongoStore, Mode], Projector]:
    """The projector of a one-document-per-entity read model (`model.doc_id`, `model.apply`)."""

    def projector(store: MongoStore, mode: Mode) -> Projector:
        return DocumentFold(
            partial(store.collection, collection),
            model.doc_id,
            model.apply,
            mode.skip_applied,
            DocCache() if mode.sole_writer else None,
        )

    return projector


def _livestream(store: MongoStore, mode: Mode) -> Projector:
    return LivestreamFold(store, mode.skip_applied)


PROJECTIONS: dict[str, Projection] = {
    p.name: p
    for p in (
        Projection("jobs", topics.JOB_EVENTS, (JOBS,), "project-jobs", _document_fold(JOBS, jobs_model)),
        Projection(
            "titles", topics.TITLES, (TITLES,), "project-titles", _document_fold(TITLES, titles_model)
        ),
        # participations are written before the stream document: same order for the aliases
        Projection(
            "livestream",
            topics.LIVESTREAM_EVENTS,
            (HISTORY, STREAMS),
            "project-livestream",
            _livestream,
        ),
    )
}
