"""/metrics on the gateway and on the worker, scraped while jobs run: the exposition parses with
prometheus_client's own parser, and the counters move by exactly what the test did."""

from __future__ import annotations

import random
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from prometheus_client.parser import text_string_to_metric_families

from devstack import Services
from streams.settings import Settings
from tests.fakes.netflix_server import FakeNetflix
from tests.support import ServiceProcess, eventually, isolated_settings, start_gateway, start_worker

pytestmark = pytest.mark.e2e

KEY = {"X-API-Key": "test-key"}
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


@dataclass
class Stack:
    settings: Settings
    netflix: FakeNetflix
    worker: ServiceProcess
    gateway: ServiceProcess
    worker_metrics: str
    base: str


@pytest.fixture(scope="module")
async def stack(services: Services, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Stack]:
    netflix = FakeNetflix(load_fixtures=True)
    base_url = await netflix.start()
    settings = isolated_settings(services, netflix_base_url=base_url, lag_poll_seconds=0.5)
    log_dir: Path = tmp_path_factory.mktemp("metrics")
    worker = await start_worker(settings, log_dir)
    await worker.wait_for_log(r"worker metrics at http://[0-9.]+:\d+/metrics")
    found = re.search(r"worker metrics at (http://[0-9.]+:\d+/metrics)", worker.log())
    assert found is not None
    gateway = await start_gateway(settings, log_dir)
    yield Stack(settings, netflix, worker, gateway, found.group(1), f"http://127.0.0.1:{settings.port}")
    gateway.stop()
    worker.stop()
    await netflix.stop()


async def scrape(http: httpx.AsyncClient, url: str) -> Samples:
    """Every sample of an exposition, parsed by prometheus_client (which raises on bad syntax)."""
    response = await http.get(url)
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"].startswith("text/plain; version=")
    samples: Samples = {}
    for family in text_string_to_metric_families(response.text):
        for s in family.samples:
            samples[(s.name, frozenset(s.labels.items()))] = s.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def total(samples: Samples, name: str, **labels: str) -> float:
    """Sum over the samples of `name` whose labels include `labels`."""
    want = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and want <= ls)


def fresh_title(netflix: FakeNetflix) -> str:
    tid = str(random.randint(70_000_000, 79_999_999))
    netflix.add_title(f"/tr/title/{tid}", title=f"Metrics {tid}", year=2021)
    return tid


async def run_jobs(http: httpx.AsyncClient, base: str, urls: list[str]) -> list[str]:
    ids = []
    for url in urls:
        answer = await http.post(f"{base}/api/getinfo/async", json={"url": url}, headers=KEY)
        assert answer.status_code == 202, answer.text
        ids.append(answer.json()["data"]["jobId"])
    for job_id in ids:

        async def ended(job_id: str = job_id) -> bool:
            state = (await http.get(f"{base}/api/jobs/{job_id}", headers=KEY)).json()["data"]
            return state["status"] in ("completed", "failed")

        await eventually(ended, timeout=60, interval=0.2, what=f"job {job_id} ended")
    return ids


async def test_gateway_metrics_count_requests_and_jobs(stack: Stack) -> None:
    async with httpx.AsyncClient(timeout=30) as http:
        before = await scrape(http, f"{stack.base}/metrics")
        tid = fresh_title(stack.netflix)
        url = f"https://www.netflix.com/tr/title/{tid}"
        ids = await run_jobs(http, stack.base, [url, url, url])  # one scrape, then two cache hits
        bad = await http.post(f"{stack.base}/api/getinfo/async", json={"url": "https://x.test/"}, headers=KEY)
        assert bad.status_code == 400
        missing = await http.get(f"{stack.base}/api/jobs/no-such-job", headers=KEY)
        assert missing.status_code == 404
        assert (await http.get(f"{stack.base}/no/such/file.json")).status_code == 404  # the page's catch-all
        assert (await http.post(f"{stack.base}/no/such/route")).status_code in (404, 405)

        async def lag_known() -> Samples:
            after = await scrape(http, f"{stack.base}/metrics")
            group = stack.settings.topic_prefix + stack.settings.app_id
            assert value(after, "streamproc_consumer_group_members", group=group) == 1
            assert total(after, "streamproc_consumer_lag_messages", consumer="gateway-job-tail") == 0
            assert total(after, "streamproc_projection_lag_events", projection="jobs") == 0
            return after

        after = await eventually(lag_known, timeout=30, interval=0.5, what="lag gauges caught up")

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    route = "/api/getinfo/async"
    assert delta("streamproc_http_requests_total", method="POST", route=route, status="202") == 3
    assert delta("streamproc_http_requests_total", method="POST", route=route, status="400") == 1
    assert delta("streamproc_http_requests_total", method="GET", route="/api/jobs/{jobId}", status="404") == 1
    assert delta("streamproc_http_requests_total", method="GET", route="/", status="404") == 1
    assert (
        total(after, "streamproc_http_requests_total", method="POST", route="unmatched")
        - total(before, "streamproc_http_requests_total", method="POST", route="unmatched")
        == 1
    )
    assert delta("streamproc_http_request_duration_seconds_count", method="POST", route=route) == 4
    assert delta("streamproc_jobs_created_total", endpoint="async") == 3
    # the consumer lag of this gateway's tail, per partition of the job-events topic
    tail = {
        dict(ls)["partition"]
        for (n, ls) in after
        if n == "streamproc_consumer_lag_messages" and ("consumer", "gateway-job-tail") in ls
    }
    assert tail == {str(p) for p in range(stack.settings.topic_partitions)}
    # the worker group's lag on each of its topics, as the gateway reads it from the brokers
    lagged_topics = {dict(ls)["topic"] for (n, ls) in after if n == "streamproc_consumer_group_lag_messages"}
    prefix = stack.settings.topic_prefix
    assert {f"{prefix}netflix.scrape-requests", f"{prefix}netflix.job-events"} <= lagged_topics
    # the standard collectors
    assert value(after, "process_resident_memory_bytes") > 0
    assert any(n == "python_info" for n, _ in after)
    assert_bounded_labels(after, *ids, tid)


async def test_worker_metrics_count_jobs_fetches_projections_and_dead_letters(stack: Stack) -> None:
    async with httpx.AsyncClient(timeout=30) as http:
        before = await scrape(http, stack.worker_metrics)
        tids = [fresh_title(stack.netflix) for _ in range(3)]
        urls = [f"https://www.netflix.com/tr/title/{tid}" for tid in tids]
        urls.append(urls[0])  # a cache hit
        urls.append("https://www.netflix.com/tr/title/80000404")  # TITLE_NOT_FOUND
        ids = await run_jobs(http, stack.base, urls)
        job_events = stack.settings.topic_prefix + "netflix.job-events"

        async def folded() -> bool:
            # every job event folded: 3 scraped (6 events each), 1 cache hit (3), 1 not found (5)
            now = await scrape(http, stack.worker_metrics)
            n = delta_of(before, now, "streamproc_projection_events_total", projection="jobs")
            assert n == 3 * 6 + 3 + 5, n
            return True

        await eventually(folded, timeout=30, interval=0.5, what="the job events folded and counted")
        producer = AIOKafkaProducer(bootstrap_servers=stack.settings.kafka_bootstrap_servers)
        await producer.start()
        try:
            await producer.send_and_wait(job_events, b"{not an envelope", key=b"poison")
        finally:
            await producer.stop()

        async def settled() -> Samples:
            after = await scrape(http, stack.worker_metrics)
            assert (
                total(after, "streamproc_dlq_records_total", topic=job_events)
                - total(before, "streamproc_dlq_records_total", topic=job_events)
                == 1
            )
            return after

        after = await eventually(settled, timeout=30, interval=0.5, what="the dead letter counted")

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("streamproc_jobs_finished_total", outcome="completed", source="netflix", code="none") == 3
    assert delta("streamproc_jobs_finished_total", outcome="completed", source="cache", code="none") == 1
    failed = {"outcome": "failed", "source": "none", "code": "TITLE_NOT_FOUND"}
    assert delta("streamproc_jobs_finished_total", **failed) == 1
    assert delta("streamproc_upstream_fetches_total", status="200") == 3
    assert delta("streamproc_upstream_fetches_total", status="404") == 1
    assert delta("streamproc_job_duration_seconds_count", outcome="completed", source="netflix") == 3
    assert delta("streamproc_job_step_duration_seconds_count", step="scraping_netflix") == 4
    codes = {dict(ls)["code"] for (n, ls) in after if n == "streamproc_dlq_records_total"}
    assert codes and all(re.fullmatch(r"[A-Z_]+", c) for c in codes), codes
    group = stack.settings.topic_prefix + stack.settings.app_id
    assert value(after, "streamproc_consumer_group_members", group=group) == 1
    assert value(after, "process_resident_memory_bytes") > 0
    assert_bounded_labels(after, *ids, *tids)


def delta_of(before: Samples, after: Samples, name: str, **labels: str) -> float:
    return value(after, name, **labels) - value(before, name, **labels)


def assert_bounded_labels(samples: Samples, *ids: str) -> None:
    """No label value names a job or a title: label sets stay bounded."""
    for name, labels in samples:
        for _label, text in labels:
            assert not any(i in text for i in ids), (name, dict(labels))
