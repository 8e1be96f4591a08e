"""For the replay tests: run `python -m projections.replay` (in process or as a subprocess) against
one isolated deployment, produce job logs quickly, and read documents back."""

from __future__ import annotations

import asyncio
import io
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaProducer

from projections.replay.__main__ import run
from projections.store import Doc, MongoStore
from streams.events import Envelope, encode, new_event
from streams.events.netflix import (
    JobCompleted,
    JobCreated,
    JobError,
    JobFailed,
    JobProgress,
    JobStatus,
    JobStep,
    TitleData,
)
from streams.settings import Settings
from tests.support import REPO


@dataclass(frozen=True)
class Result:
    code: int
    out: str
    err: str


def connection_args(settings: Settings) -> list[str]:
    return [
        "--bootstrap",
        settings.kafka_bootstrap_servers,
        "--mongodb-uri",
        settings.mongodb_uri,
        "--database",
        settings.mongodb_database,
        "--prefix",
        settings.topic_prefix,
    ]


async def cli(settings: Settings, *args: str) -> Result:
    """The CLI in this process (its `run` coroutine), with the deployment's connections."""
    out, err = io.StringIO(), io.StringIO()
    code = await run([*args, *connection_args(settings)], out=out, err=err)
    return Result(code, out.getvalue(), err.getvalue())


async def cli_process(
    args: Sequence[str], env: dict[str, str] | None = None, limit_seconds: float = 60
) -> Result:
    """`python -m projections.replay ...` as a subprocess (the real entrypoint)."""

    def call() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "projections.replay", *args],
            capture_output=True,
            text=True,
            cwd=REPO,
            env={**os.environ, **(env or {})},
            timeout=limit_seconds,
            check=False,
        )

    done = await asyncio.to_thread(call)
    return Result(done.returncode, done.stdout, done.stderr)


@dataclass(frozen=True)
class Sent:
    partition: int
    offset: int
    timestamp: int
    key: bytes | None
    value: bytes


async def produce(
    bootstrap: str, topic: str, records: Sequence[tuple[bytes | None, bytes]], batch: int = 2000
) -> list[Sent]:
    """Batched sends (linger + many in flight), acknowledged; what the broker stored where."""
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", linger_ms=20, max_batch_size=512 * 1024
    )
    await producer.start()
    out: list[Sent] = []
    try:
        for i in range(0, len(records), batch):
            chunk = records[i : i + batch]
            # explicit CreateTime stamps: the test knows each record's timestamp exactly
            stamps = [int(time.time() * 1000)] * len(chunk)
            futures = [
                await producer.send(topic, value, key=key, timestamp_ms=ms)
                for (key, value), ms in zip(chunk, stamps, strict=True)
            ]
            for (key, value), ms, meta in zip(chunk, stamps, await asyncio.gather(*futures), strict=True):
                out.append(Sent(meta.partition, meta.offset, ms, key, value))
    finally:
        await producer.stop()
    return out


TITLE = TitleData(
    title="A Man Called Otto",
    year=2022,
    title_id="81616256",
    country="tr",
    url="https://www.netflix.com/tr/title/81616256",
)


def job_story(job_id: str, *, fail: bool = False, steps: int = 4) -> list[Envelope]:
    """A job's events in order: created, progress..., then completed (or failed)."""
    events = [
        new_event(
            JobCreated(job_id=job_id, url=TITLE.url, country="tr", title_id="81616256"),
            key=job_id,
            sequence=1,
        )
    ]
    path = [
        JobStep.CHECKING_CACHE,
        JobStep.CHECKING_DATABASE,
        JobStep.SCRAPING_NETFLIX,
        JobStep.SAVING_TO_DATABASE,
    ][: max(0, steps - 2)]
    progress = {
        JobStep.CHECKING_CACHE: 10,
        JobStep.CHECKING_DATABASE: 30,
        JobStep.SCRAPING_NETFLIX: 50,
        JobStep.SAVING_TO_DATABASE: 80,
    }
    for seq, step in enumerate(path, start=2):
        events.append(
            new_event(
                JobProgress(
                    job_id=job_id,
                    progress=progress[step],
                    status=JobStatus.PROCESSING,
                    step=step.value,
                    step_code=step,
                ),
                key=job_id,
                sequence=seq,
            )
        )
    end = len(events) + 1
    if fail:
        events.append(
            new_event(
                JobFailed(
                    job_id=job_id,
                    progress=50,
                    error=JobError(code="SCRAPE_ERROR", message="Failed to fetch Netflix page: 403"),
                ),
                key=job_id,
                sequence=end,
            )
        )
    else:
        events.append(
            new_event(JobCompleted(job_id=job_id, source="netflix", data=TITLE), key=job_id, sequence=end)
        )
    return events


def wire(events: Sequence[Envelope]) -> list[tuple[bytes | None, bytes]]:
    return [(e.key.encode("utf-8"), encode(e)) for e in events]


async def documents(store: MongoStore, physical: str) -> dict[Any, Doc]:
    return {doc["_id"]: doc async for doc in store.db[physical].find({})}
