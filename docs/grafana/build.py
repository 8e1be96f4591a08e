"""Builds docs/grafana/streamproc.json, the Grafana dashboard over our Prometheus metrics, with
Grafana's own typed builders (grafana-foundation-sdk, generated from Grafana 11.6's schema).

    .venv/bin/python docs/grafana/build.py          # rewrite streamproc.json
    .venv/bin/python docs/grafana/build.py --check  # fail if it differs (tests/unit/test_dashboard.py)

Import the JSON in Grafana (Dashboards > New > Import) and pick a Prometheus data source that
scrapes every gateway's /metrics and every worker's METRICS_PORT.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from grafana_foundation_sdk.builders import dashboard, prometheus, stat, timeseries
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.dashboard import DataSourceRef

OUT = Path(__file__).with_name("streamproc.json")
DS = DataSourceRef(type_val="prometheus", uid="${datasource}")
RATE = "[$__rate_interval]"


def query(expr: str, legend: str = "__auto", ref: str = "A") -> prometheus.Dataquery:
    return prometheus.Dataquery().expr(expr).legend_format(legend).ref_id(ref).datasource(DS)


def series(title: str, unit: str, *queries: prometheus.Dataquery, help_text: str = "") -> timeseries.Panel:
    panel = timeseries.Panel().title(title).unit(unit).datasource(DS).height(8).span(8).min(0)
    if help_text:
        panel = panel.description(help_text)
    for q in queries:
        panel = panel.with_target(q)
    return panel


def single(title: str, unit: str, expr: str, help_text: str = "") -> stat.Panel:
    panel = stat.Panel().title(title).unit(unit).datasource(DS).height(4).span(6).with_target(query(expr))
    return panel.description(help_text) if help_text else panel


def quantiles(metric: str, by: str = "") -> list[prometheus.Dataquery]:
    group = f"le, {by}" if by else "le"
    label = f"{{{{{by}}}}} " if by else ""
    return [
        query(
            f"histogram_quantile({q}, sum by ({group}) (rate({metric}_bucket{RATE})))",
            f"{label}p{int(q * 100)}",
            ref,
        )
        for q, ref in ((0.5, "A"), (0.95, "B"), (0.99, "C"))
    ]


def build() -> dict[str, Any]:
    board = (
        dashboard.Dashboard("streamproc")
        .uid("streamproc-overview")
        .description("Netflix title jobs and live-stream history: gateway, worker, Kafka, read models")
        .tags(["streamproc", "kafka", "faust"])
        .refresh("30s")
        .time("now-1h", "now")
        .timezone("utc")
        .with_variable(dashboard.DatasourceVariable("datasource").label("Prometheus").type("prometheus"))
    )
    board = (
        board.with_row(dashboard.Row("Health at a glance"))
        .with_panel(
            single(
                "Worker group members",
                "none",
                "min(streamproc_consumer_group_members)",
                "0 means no worker is consuming: /readyz fails with 'workers'.",
            )
        )
        .with_panel(
            single("Worst projection lag", "s", "max(streamproc_projection_lag_seconds)", "Bound: /readyz")
        )
        .with_panel(
            single(
                "Upstream circuit open",
                "bool_on_off",
                "max(streamproc_upstream_circuit_open)",
                "Netflix answered 403/429 repeatedly: fetches fail fast with SCRAPE_ERROR.",
            )
        )
        .with_panel(
            single(
                "HTTP 5xx ratio",
                "percentunit",
                f'sum(rate(streamproc_http_requests_total{{status=~"5.."}}{RATE})) '
                f"/ sum(rate(streamproc_http_requests_total{RATE}))",
            )
        )
    )
    board = (
        board.with_row(dashboard.Row("Jobs"))
        .with_panel(
            series(
                "Jobs finished by outcome and source",
                "ops",
                query(
                    f"sum by (outcome, source) (rate(streamproc_jobs_finished_total{RATE}))",
                    "{{outcome}} {{source}}",
                ),
                query(f"sum(rate(streamproc_jobs_created_total{RATE}))", "created", "B"),
            )
        )
        .with_panel(
            series(
                "Failed jobs by code",
                "ops",
                query(
                    f'sum by (code) (rate(streamproc_jobs_finished_total{{outcome="failed"}}{RATE}))',
                    "{{code}}",
                ),
            )
        )
        .with_panel(
            series(
                "POST to terminal event",
                "s",
                *quantiles("streamproc_job_duration_seconds"),
                help_text="From the request's occurredAt to job.completed/job.failed, queueing included.",
            )
        )
        .with_panel(
            series(
                "Step to step, p95 by step",
                "s",
                query(
                    "histogram_quantile(0.95, sum by (le, step) "
                    f"(rate(streamproc_job_step_duration_seconds_bucket{RATE})))",
                    "{{step}}",
                ),
            )
        )
    )
    board = (
        board.with_row(dashboard.Row("Upstream (Netflix)"))
        .with_panel(
            series(
                "Fetches by status",
                "ops",
                query(f"sum by (status) (rate(streamproc_upstream_fetches_total{RATE}))", "{{status}}"),
                query(
                    f"sum by (reason) (rate(streamproc_upstream_fetch_retries_total{RATE}))",
                    "retry {{reason}}",
                    "B",
                ),
                query(
                    f"sum(rate(streamproc_upstream_fetches_rejected_total{RATE}))", "rejected (breaker)", "C"
                ),
            )
        )
        .with_panel(
            series(
                "Fetches in flight and politeness waits",
                "short",
                query("sum by (instance) (streamproc_upstream_fetches_in_flight)", "in flight {{instance}}"),
                query(
                    f"sum by (reason) (rate(streamproc_upstream_throttle_seconds_total{RATE}))",
                    "waiting {{reason}} (s/s)",
                    "B",
                ),
                query(f"sum(increase(streamproc_upstream_pauses_total{RATE}))", "Retry-After pauses", "C"),
                query(
                    f"sum(increase(streamproc_upstream_circuit_opened_total{RATE}))", "breaker opened", "D"
                ),
                query(
                    f"sum by (reason) (rate(streamproc_upstream_throttled_total{RATE}))",
                    "delayed {{reason}} (/s)",
                    "E",
                ),
            )
        )
        .with_panel(series("Fetch duration", "s", *quantiles("streamproc_upstream_fetch_duration_seconds")))
    )
    board = (
        board.with_row(dashboard.Row("Gateway"))
        .with_panel(
            series(
                "HTTP requests by route and status",
                "reqps",
                query(
                    f"sum by (route, status) (rate(streamproc_http_requests_total{RATE}))",
                    "{{route}} {{status}}",
                ),
            )
        )
        .with_panel(
            series(
                "HTTP latency p99 by route",
                "s",
                query(
                    "histogram_quantile(0.99, sum by (le, route) "
                    f"(rate(streamproc_http_request_duration_seconds_bucket{RATE})))",
                    "{{route}}",
                ),
            )
        )
        .with_panel(
            series(
                "Refused by a limit",
                "ops",
                query(f"sum by (limit) (rate(streamproc_rate_limited_total{RATE}))", "{{limit}}"),
            )
        )
        .with_panel(
            series(
                "Socket.IO connections and job rooms",
                "short",
                query("sum by (namespace) (streamproc_socketio_connections)", "{{namespace}}"),
                query("sum(streamproc_socketio_job_rooms)", "job rooms", "B"),
            )
        )
        .with_panel(
            series(
                "Socket.IO emits and recoveries",
                "ops",
                query(f"sum by (event) (rate(streamproc_socketio_emits_total{RATE}))", "{{event}}"),
                query(
                    f"sum by (outcome) (rate(streamproc_socketio_recoveries_total{RATE}))",
                    "recovery {{outcome}}",
                    "B",
                ),
            )
        )
    )
    board = (
        board.with_row(dashboard.Row("Kafka and read models"))
        .with_panel(
            series(
                "Worker group lag by topic (committed)",
                "short",
                query(
                    "sum by (topic) (max by (group, topic, partition) (streamproc_consumer_group_lag_messages))",
                    "{{topic}}",
                ),
            )
        )
        .with_panel(
            series(
                "Consumer lag (this process) by consumer",
                "short",
                query(
                    "sum by (instance, consumer) (streamproc_consumer_lag_messages)",
                    "{{consumer}} {{instance}}",
                ),
                help_text="Each gateway's job-event tail: events fetched but not yet fanned out.",
            )
        )
        .with_panel(
            series(
                "Projection lag",
                "s",
                query("max by (projection) (streamproc_projection_lag_seconds)", "{{projection}} seconds"),
                query("max by (projection) (streamproc_projection_lag_events)", "{{projection}} events", "B"),
            )
        )
        .with_panel(
            series(
                "Events folded by projection",
                "ops",
                query(
                    f"sum by (projection) (rate(streamproc_projection_events_total{RATE}))", "{{projection}}"
                ),
            )
        )
        .with_panel(
            series(
                "Dead letters by topic and code",
                "ops",
                query(
                    f"sum by (topic, code) (rate(streamproc_dlq_records_total{RATE}))", "{{topic}} {{code}}"
                ),
            )
        )
        .with_panel(
            series(
                "Kafka and database errors by kind",
                "ops",
                query(f"sum by (kind) (rate(streamproc_kafka_errors_total{RATE}))", "kafka {{kind}}"),
                query(
                    f"sum by (kind) (rate(streamproc_database_errors_total{RATE}))", "database {{kind}}", "B"
                ),
            )
        )
    )
    board = (
        board.with_row(dashboard.Row("Processes"))
        .with_panel(
            series("Resident memory", "bytes", query("process_resident_memory_bytes", "{{job}} {{instance}}"))
        )
        .with_panel(
            series(
                "CPU", "percentunit", query(f"rate(process_cpu_seconds_total{RATE})", "{{job}} {{instance}}")
            )
        )
        .with_panel(
            series("Open file descriptors", "short", query("process_open_fds", "{{job}} {{instance}}"))
        )
    )
    encoded: dict[str, Any] = json.loads(json.dumps(board.build(), cls=JSONEncoder))
    return encoded


def render() -> str:
    return json.dumps(build(), indent=2, sort_keys=True) + "\n"


def main(argv: list[str]) -> int:
    text = render()
    if "--check" in argv:
        if OUT.read_text() != text:
            print(f"{OUT} is stale: run python docs/grafana/build.py", file=sys.stderr)
            return 1
        return 0
    OUT.write_text(text)
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
