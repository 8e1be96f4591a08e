"""The live-stream projection over dicts: what the documents must be after a list of events."""

from __future__ import annotations

from dataclasses import dataclass, field

from projections.livestream import participation_id, plan, stream_id_of
from projections.store import Doc
from streams.events import Envelope


@dataclass
class MemoryModel:
    """The plans of `projections.livestream` executed on dicts, as `LivestreamFold` executes them
    on the collections: the reference the tests and the benchmark compare against."""

    streams: dict[str, Doc] = field(default_factory=dict)
    history: dict[str, Doc] = field(default_factory=dict)
    _by_stream: dict[str, list[str]] = field(default_factory=dict, repr=False, compare=False)

    def apply(self, event: Envelope) -> None:
        live_stream_id = stream_id_of(event)
        if live_stream_id is None:
            return
        part_id = participation_id(event)
        todo = plan(
            event,
            self.streams.get(live_stream_id),
            self.history.get(part_id) if part_id is not None else None,
        )
        if todo is None:
            return
        if todo.participation is not None:
            key = todo.participation["_id"]
            if key not in self.history:
                self._by_stream.setdefault(live_stream_id, []).append(key)
            self.history[key] = todo.participation
        if todo.sync is not None:
            for key in self._by_stream.get(live_stream_id, ()):
                self.history[key] = {**self.history[key], **todo.sync}
        if todo.stream is not None:
            self.streams[live_stream_id] = todo.stream

    def apply_all(self, events: list[Envelope]) -> MemoryModel:
        for event in events:
            self.apply(event)
        return self
