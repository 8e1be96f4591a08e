"""The worker's operations surface: Prometheus metrics on METRICS_PORT, and its consumer group's
lag (the same monitor the gateway's /readyz reads) exported there."""

from __future__ import annotations

import logging
from typing import Any

import faust
from prometheus_client import start_http_server

from projections.queries import projection_topics
from streams.lag import GroupLagMonitor
from streams.settings import Settings
from streams.topics import TopicNames

log = logging.getLogger(__name__)


def serve_metrics(settings: Settings) -> int:
    """Serve /metrics from a daemon thread (it answers even while the event loop is busy);
    the port it listens on (METRICS_PORT, or a free one when that is 0)."""
    server, _thread = start_http_server(settings.metrics_port, addr=settings.host)
    port = int(server.server_port)
    shown = "127.0.0.1" if settings.host in ("0.0.0.0", "") else settings.host  # noqa: S104
    log.info("worker metrics at http://%s:%d/metrics", shown, port)
    return port


def install(app: faust.App, settings: Settings, topics: TopicNames) -> None:
    """Start the metrics endpoint and the group lag monitor with the worker."""
    monitor = GroupLagMonitor(
        settings.kafka_bootstrap_servers,
        group=app.conf.id,
        topics=(topics.scrape_requests, topics.job_events, topics.titles, topics.livestream_events),
        projections={name: topics.name(topic) for name, topic in projection_topics().items()},
        poll_seconds=settings.lag_poll_seconds,
    )

    @app.task  # type: ignore[untyped-decorator]  # Faust is untyped
    async def observe() -> None:
        serve_metrics(settings)
        await monitor.start()

    @app.on_before_shutdown.connect  # type: ignore[arg-type]  # mode types receivers oddly
    async def stop_monitor(sender: Any, **_: Any) -> None:
        await monitor.stop()
