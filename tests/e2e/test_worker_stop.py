"""A worker stopped in the middle of a job does not acknowledge it: the next worker runs the job
again, and it ends."""

from __future__ import annotations

from pathlib import Path

import pytest

from devstack import Services
from tests.e2e.jobclient import JobClient
from tests.fakes.netflix_server import FakeNetflix
from tests.support import eventually, isolated_settings, start_gateway, start_worker, title_on

pytestmark = pytest.mark.e2e


async def test_a_job_cut_short_by_a_stop_is_run_again_by_the_next_worker(
    services: Services, log_dir: Path
) -> None:
    netflix = FakeNetflix(load_fixtures=False)
    base = await netflix.start()
    settings = isolated_settings(services, netflix_base_url=base, scrape_timeout_seconds=30.0)
    tid = title_on(0, settings.topic_partitions)
    netflix.add_title(f"/de/title/{tid}", title="Slow", year=2020, country="de")
    netflix.set_behaviour(f"/de/title/{tid}", delay=30.0)  # the job waits on Netflix
    worker = await start_worker(settings, log_dir)
    gateway = await start_gateway(settings, log_dir)
    client = await JobClient(f"http://127.0.0.1:{settings.port}", "test-key").connect()
    try:
        job = await client.run_job(f"https://www.netflix.com/de/title/{tid}")

        # The worker is inside the job, waiting on Netflix (which has its request).
        await eventually(lambda: netflix.requests_for(tid) == 1, timeout=30, interval=0.05, what="the fetch")
        assert worker.stop() is not None
        netflix.reset()  # Netflix answers at once now
        worker = await start_worker(settings, log_dir)
        await client.finished(job, timeout=30)
        kind, payload = client.terminal(job)
        assert (kind, payload["source"]) == ("job:completed", "netflix"), payload
        assert netflix.requests_for(tid) == 1  # since the reset: the job ran again
    finally:
        await client.close()
        gateway.stop()
        worker.stop()
        await netflix.stop()
