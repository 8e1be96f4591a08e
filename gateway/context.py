"""What every handler needs, built once per app: settings, the event log, the read models."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from aiohttp import web

from gateway.auth import ApiKeys, TokenVerifier
from gateway.eventlog import EventLog
from projections.queries import MongoStore
from streams.events.envelope import Clock, IdFactory, new_id, utc_now
from streams.lag import GroupLagMonitor
from streams.settings import Settings
from streams.topics import TopicNames

if TYPE_CHECKING:
    from gateway.realtime.jobs import JobFanout


@dataclass
class Context:
    settings: Settings
    events: EventLog
    store: MongoStore
    topics: TopicNames
    api_keys: ApiKeys
    tokens: TokenVerifier
    clock: Clock = utc_now
    ids: IdFactory = new_id
    jobs: JobFanout | None = field(default=None)
    lag: GroupLagMonitor | None = field(default=None)  # the worker group's, for /readyz and metrics

    @property
    def job_fanout(self) -> JobFanout:
        if self.jobs is None:  # set during app start-up; a request before it is a wiring bug
            raise RuntimeError("the job fan-out is not started")
        return self.jobs


CTX: web.AppKey[Context] = web.AppKey("ctx", Context)
