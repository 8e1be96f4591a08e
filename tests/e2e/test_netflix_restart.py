"""The title cache is a changelog-backed Faust table: it survives a worker restart."""

from __future__ import annotations

from pathlib import Path

import pytest

from devstack import Services
from tests.e2e.jobclient import JobClient
from tests.fakes.netflix_server import FakeNetflix
from tests.support import isolated_settings, start_gateway, start_worker

pytestmark = pytest.mark.e2e


async def test_cache_survives_a_worker_restart(services: Services, log_dir: Path) -> None:
    netflix = FakeNetflix(load_fixtures=False)
    base = await netflix.start()
    netflix.add_title("/de/title/70000001", title="Neustart", year=2020, country="de")
    # Titles are never "fresh" in the database here, so only the cache can avoid a new fetch.
    settings = isolated_settings(
        services, netflix_base_url=base, cache_ttl_seconds=600.0, title_stale_after_seconds=0.0
    )
    worker = await start_worker(settings, log_dir)
    gateway = await start_gateway(settings, log_dir)
    client = await JobClient(f"http://127.0.0.1:{settings.port}", "test-key").connect()
    try:
        url = "https://www.netflix.com/de/title/70000001"
        first = await client.run_job(url)
        await client.finished(first)
        assert client.terminal(first)[1]["source"] == "netflix"

        assert worker.stop() is not None
        worker = await start_worker(settings, log_dir)  # same app id: same changelog topic

        second = await client.run_job(url)
        await client.finished(second)
        assert client.terminal(second)[1]["source"] == "cache"
        assert client.progress(second) == [0, 10, 100]
        assert netflix.requests_for("70000001") == 1
    finally:
        await client.close()
        gateway.stop()
        worker.stop()
        await netflix.stop()
