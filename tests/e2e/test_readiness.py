"""/readyz means "this deployment can do its work": 503 while no worker is in the consumer group
or a read model is further behind its topic than READY_MAX_PROJECTION_LAG_SECONDS, naming the
check that failed; 200 again once a worker has joined and caught up, from the same gateway."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest

from devstack import Services
from tests.fakes.netflix_server import FakeNetflix
from tests.support import eventually, isolated_settings, start_gateway, start_worker

pytestmark = pytest.mark.e2e


async def test_readyz_fails_without_a_worker_and_while_projections_lag(
    services: Services, tmp_path: Path
) -> None:
    netflix = FakeNetflix(load_fixtures=True)
    settings = isolated_settings(
        services,
        netflix_base_url=await netflix.start(),
        lag_poll_seconds=0.5,
        ready_max_projection_lag_seconds=2.0,
    )
    gateway = await start_gateway(settings, tmp_path)
    worker = None
    base = f"http://127.0.0.1:{settings.port}"
    group = settings.topic_prefix + settings.app_id
    try:
        async with httpx.AsyncClient(base_url=base, timeout=15) as http:

            async def no_member() -> dict[str, Any]:
                # (a broker's first group request may find no coordinator yet: asked again)
                answer = await http.get("/readyz")
                assert answer.status_code == 503, answer.text
                found: dict[str, Any] = answer.json()
                assert "has no live members" in found["data"]["workers"], found
                return found

            body = await eventually(no_member, timeout=20, interval=0.5, what="/readyz naming the workers")
            assert body["code"] == "UNAVAILABLE"
            assert body["data"]["kafka"] == "ok" and body["data"]["database"] == "ok", body
            assert body["data"]["workers"].startswith(f"error: consumer group {group} has no live members")
            assert any(e.startswith("workers is not ready") for e in body["errors"]), body
            assert body["data"]["projections"] == "ok", body  # nothing to fold yet

            # A job whose events nobody folds: the jobs read model falls behind its topic.
            url = {"url": "https://www.netflix.com/tr/title/81616256"}
            posted = await http.post("/api/getinfo/async", json=url, headers={"X-API-Key": "test-key"})
            assert posted.status_code == 202, posted.text
            await asyncio.sleep(2.5)

            async def projections_behind() -> dict[str, str]:
                answer = await http.get("/readyz")
                assert answer.status_code == 503, answer.text
                checks: dict[str, str] = answer.json()["data"]
                assert checks["projections"].startswith("error: jobs is "), checks
                topic = f"{settings.topic_prefix}netflix.job-events"
                assert f"behind {topic} (bound 2 s)" in checks["projections"], checks
                return checks

            await eventually(projections_behind, timeout=10, interval=0.5, what="/readyz naming the jobs lag")

            worker = await start_worker(settings, tmp_path)

            async def ready() -> dict[str, str]:
                answer = await http.get("/readyz")
                assert answer.status_code == 200, answer.text
                checks: dict[str, str] = answer.json()["data"]
                return checks

            checks = await eventually(ready, timeout=60, interval=0.5, what="/readyz 200 with a worker")
            assert checks == {"kafka": "ok", "database": "ok", "workers": "ok", "projections": "ok"}
    finally:
        if worker is not None:
            worker.stop()
        gateway.stop()
        await netflix.stop()
