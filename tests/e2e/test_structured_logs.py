"""LOG_FORMAT=json end to end: a worker and a gateway run a job, a failing job and a JWT-secured
live stream; every line of both logs is a JSON object, the lines of a job carry its jobId and
correlationId, a stream's lines its liveStreamId, and no JWT, API key or page body is logged."""

from __future__ import annotations

import asyncio
import json
import random
import uuid
from collections.abc import Iterable
from typing import Any

import httpx
import jwt
import pytest
import socketio

from devstack import Services
from projections.store import MongoStore
from streams.logs import REDACTED
from tests.e2e.jobclient import JobClient
from tests.e2e.test_livestream_history import LiveStreamApi, new_user
from tests.fakes import render_title_page
from tests.fakes.netflix_server import FakeNetflix
from tests.support import ServiceProcess, isolated_settings

pytestmark = pytest.mark.e2e

Line = dict[str, Any]
OURS = ("streams.", "projections.", "gateway.", "runtime.")


def parse_log(proc: ServiceProcess) -> list[Line]:
    """Every non-empty line of the process's output as a JSON object, or the test fails."""
    out: list[Line] = []
    for number, text in enumerate(proc.log().splitlines(), 1):
        if not text.strip():
            continue
        try:
            line = json.loads(text)
        except json.JSONDecodeError:
            raise AssertionError(f"{proc.name} line {number} is not JSON: {text[:300]!r}") from None
        assert isinstance(line, dict), f"{proc.name} line {number} is not an object: {text[:300]!r}"
        assert {"ts", "level", "logger", "msg"} <= set(line), line
        out.append(line)
    return out


def naming(lines: Iterable[Line], value: str) -> list[Line]:
    return [line for line in lines if value in json.dumps(line)]


async def test_json_logs_carry_the_context_and_no_secrets(services: Services, log_dir: Any) -> None:
    netflix = FakeNetflix(load_fixtures=False)
    base = await netflix.start()
    api_key = f"key-{uuid.uuid4().hex}"
    settings = isolated_settings(
        services,
        netflix_base_url=base,
        api_keys=frozenset({api_key}),
        log_format="json",
        log_level="DEBUG",  # our modules' DEBUG lines too: the gateway's appends, parse timings
        scrape_max_attempts=2,
    )
    # A page whose body holds a marker no title field carries: it must never reach a log.
    marker = f"page-body-marker-{uuid.uuid4().hex}"
    good, bad = (str(random.randint(10_000_000, 90_000_000)) for _ in range(2))
    plot = f"plot-{uuid.uuid4().hex}"  # scraped content: no place in a log either
    page = render_title_page(good, title="A title", year=2021, plot=plot, country="tr")
    netflix.add_page(f"/tr/title/{good}", page.replace("</body>", f"<!-- {marker} --></body>"))
    netflix.set_behaviour(f"/tr/title/{bad}", status=500)  # retried, then SCRAPE_ERROR

    worker = ServiceProcess("worker", ["-m", "runtime", "worker"], settings, log_dir).start()
    gateway = ServiceProcess("gateway", ["-m", "gateway"], settings, log_dir).start()
    store = MongoStore(settings.mongodb_uri, settings.mongodb_database)
    url = f"http://127.0.0.1:{settings.port}"
    tokens: list[str] = []
    try:
        await asyncio.gather(worker.wait_for_log("worker ready"), gateway.wait_for_log("gateway started"))

        # A job that succeeds, followed over Socket.IO and polled over REST.
        client = await JobClient(url, api_key).connect()
        try:
            ok_job = await client.run_job(f"https://www.netflix.com/tr/title/{good}")
            await client.finished(ok_job)
            assert client.terminal(ok_job)[0] == "job:completed"
            assert client.http is not None
            polled = await client.http.get(f"/api/jobs/{ok_job}", headers={"X-API-Key": api_key})
            assert polled.json()["data"]["status"] == "completed"
        finally:
            await client.close()

        # A job that fails, through the synchronous route (a 502 the gateway logs).
        async with httpx.AsyncClient(base_url=url, timeout=60) as http:
            failed = await http.post(
                "/api/getinfo",
                json={"url": f"https://www.netflix.com/tr/title/{bad}"},
                headers={"X-API-Key": api_key},
            )
            assert failed.status_code == 502, failed.text
            failed_job = failed.json()["data"]["jobId"]

            # A live stream under JWTs: create, start, a REST and a Socket.IO join, end; and a
            # socket that shows a forged token (refused, and logged without the token).
            live = LiveStreamApi(settings, http, store)
            host, fan, fan2 = new_user(), new_user(), new_user()
            tokens += [live.token(host), live.token(fan), live.token(fan2)]
            stream_id = (await live.create(host))["id"]
            await live.command(host, stream_id, "start")
            await live.join_rest(fan, stream_id)
            ack = await live.join_socket("/live-stream", fan2, stream_id)
            assert (ack["ok"], ack["authenticated"]) == (True, True), ack
            await live.command(host, stream_id, "end")
            forged = jwt.encode(
                {"sub": new_user(), "exp": 2_000_000_000}, "not-the-secret", algorithm="HS256"
            )
            tokens.append(forged)
            anonymous = socketio.AsyncClient(reconnection=False)
            await anonymous.connect(
                url, namespaces=["/live-stream"], auth={"token": forged}, transports=["websocket"]
            )
            await anonymous.disconnect()
            await live.close()
    finally:
        gateway.stop()
        worker.stop()
        await store.client.drop_database(settings.mongodb_database)
        await store.close()
        await netflix.stop()

    worker_lines, gateway_lines = parse_log(worker), parse_log(gateway)
    both = worker_lines + gateway_lines

    # Every line about a job carries that job's id and the correlation id (the job's own id: the
    # gateway starts each job's correlation with it).
    # A library line may name a job without being about it alone (a projection's bulk write of
    # a batch of many jobs' events): those carry no jobId, but never another job's.
    for job in (ok_job, failed_job):
        for line in naming(both, job):
            if line["logger"].startswith(OURS):
                assert (line.get("jobId"), line.get("correlationId")) == (job, job), line
            else:
                assert line.get("jobId") in (None, job), line
    # The scraper's lines all belong to a job, and each job has some in the worker's log ...
    for line in worker_lines:
        if line["logger"].startswith(("streams.netflix", "httpx", "httpcore")):
            assert line.get("jobId") in (ok_job, failed_job), line
            assert line["correlationId"] == line["jobId"], line
    for job in (ok_job, failed_job):
        fetches = [
            ln for ln in worker_lines if ln["logger"] == "streams.netflix.fetch" and ln.get("jobId") == job
        ]
        assert fetches, f"no streams.netflix.fetch line carries jobId={job}"
    assert any(
        ln["logger"] == "streams.netflix.runner" and ln.get("jobId") == failed_job for ln in worker_lines
    )
    # ... and the gateway's lines while starting them (its appends, the failed job's 502) too.
    for job in (ok_job, failed_job):
        assert any(ln.get("jobId") == job and "requestId" in ln for ln in gateway_lines), job
    assert any(ln["logger"] == "gateway.responses" and ln.get("jobId") == failed_job for ln in gateway_lines)

    # A stream's lines carry its liveStreamId; the gateway logged its appends with it.
    for line in naming(both, stream_id):
        if line["logger"].startswith(OURS):
            assert line.get("liveStreamId") == stream_id, line
        else:
            assert line.get("liveStreamId") in (None, stream_id), line
    appended = [
        ln
        for ln in gateway_lines
        if ln.get("liveStreamId") == stream_id and ln["logger"] == "gateway.eventlog"
    ]
    assert len(appended) >= 4, appended  # created, started, two joins, ended

    # Nothing secret, and nothing the redaction backstop had to hide: the log calls themselves
    # are never handed a token, a key or a page.
    # "eyJ" starts every JWT (its base64 header `{"`), whoever made it.
    for secret in [*tokens, "eyJ", api_key, settings.jwt_secret, marker, plot, REDACTED]:
        found = naming(both, secret)
        assert not found, f"{secret[:20]}... logged: {found[:3]}"
    assert any(
        ln["logger"] == "gateway.realtime.livestream" and "INVALID_TOKEN" in ln["msg"] for ln in gateway_lines
    )
