"""streams.logs: the JSON and text formats, the context on records (also across tasks), redaction,
the settings, and the consumers binding each record's context."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import re
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest

from streams import logs
from streams.consume import Batch, BatchProcessor, EnvelopeProcessor, Headers, RecordMeta, RejectSink
from streams.events import Envelope
from streams.settings import Settings, SettingsError

pytestmark = pytest.mark.unit

JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjMifQ.c2lnbmF0dXJlLXNpZ25hdHVyZQ"


@pytest.fixture
def capture() -> Iterator[tuple[logging.Logger, io.StringIO, logging.Handler]]:
    """A logger of its own with our handler (the root's handlers are pytest's to keep)."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(logs.ContextFilter())
    logger = logging.getLogger(f"tests.logs.{id(stream)}")
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    logger.addHandler(handler)
    yield logger, stream, handler
    logger.removeHandler(handler)


def lines(stream: io.StringIO) -> list[str]:
    return stream.getvalue().splitlines()


def test_json_lines_have_the_fields_and_the_context(
    capture: tuple[logging.Logger, io.StringIO, logging.Handler],
) -> None:
    logger, stream, handler = capture
    handler.setFormatter(logs.formatter("json"))
    with logs.bound(jobId="job-1", correlationId="corr-1"):
        logger.info("step %s of %d", "checking_cache", 6)
    logger.warning('multi\nline "quoted" ünïcode')
    first, second = (json.loads(line) for line in lines(stream))
    assert first["msg"] == "step checking_cache of 6"
    assert (first["level"], first["logger"]) == ("INFO", logger.name)
    assert (first["jobId"], first["correlationId"]) == ("job-1", "corr-1")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", first["ts"])
    assert "liveStreamId" not in first and "exc" not in first
    assert second["msg"] == 'multi\nline "quoted" ünïcode' and "jobId" not in second
    assert len(lines(stream)) == 2  # one line per record, whatever the message holds


def test_json_exception_text(capture: tuple[logging.Logger, io.StringIO, logging.Handler]) -> None:
    logger, stream, handler = capture
    handler.setFormatter(logs.formatter("json"))
    try:
        raise ValueError("boom")
    except ValueError:
        logger.exception("handler failed at=%s", "t[0]@1")
    [line] = lines(stream)
    record = json.loads(line)
    assert record["level"] == "ERROR" and record["msg"] == "handler failed at=t[0]@1"
    assert record["exc"].startswith("Traceback (most recent call last)")
    assert "ValueError: boom" in record["exc"]


def test_text_format_is_todays_line_with_the_context_appended(
    capture: tuple[logging.Logger, io.StringIO, logging.Handler],
) -> None:
    logger, stream, handler = capture
    handler.setFormatter(logs.formatter("text"))
    logger.info("plain")
    with logs.bound(liveStreamId="65f0c0ffee0000000000beef", correlationId="c-9"):
        logger.info("joined role=%s", "guest")
    plain, bound = lines(stream)
    assert re.fullmatch(
        rf"\d{{4}}-\d\d-\d\d \d\d:\d\d:\d\d,\d{{3}} INFO {re.escape(logger.name)} plain", plain
    )
    assert bound.endswith(" joined role=guest liveStreamId=65f0c0ffee0000000000beef correlationId=c-9")


def test_an_explicit_extra_field_wins_over_the_bound_one(
    capture: tuple[logging.Logger, io.StringIO, logging.Handler],
) -> None:
    logger, stream, handler = capture
    handler.setFormatter(logs.formatter("json"))
    with logs.bound(jobId="bound"):
        logger.info("x", extra={"jobId": "explicit"})
    assert json.loads(lines(stream)[0])["jobId"] == "explicit"


async def test_the_context_is_copied_into_tasks_created_while_bound(
    capture: tuple[logging.Logger, io.StringIO, logging.Handler],
) -> None:
    logger, stream, handler = capture
    handler.setFormatter(logs.formatter("json"))
    started = asyncio.Event()
    go_on = asyncio.Event()

    async def child() -> None:
        started.set()
        await go_on.wait()  # logs after the parent's block has ended
        logger.info("in the child")

    async def parent(job: str) -> asyncio.Task[None]:
        with logs.bound(jobId=job, correlationId=f"c-{job}"):
            task = asyncio.create_task(child())
        await started.wait()
        logger.info("parent after the block")
        return task

    task_a = await parent("a")
    started.clear()
    task_b = await parent("b")
    go_on.set()
    await asyncio.gather(task_a, task_b)
    records = [json.loads(line) for line in lines(stream)]
    children = [r for r in records if r["msg"] == "in the child"]
    assert sorted((r["jobId"], r["correlationId"]) for r in children) == [("a", "c-a"), ("b", "c-b")]
    assert all("jobId" not in r for r in records if r["msg"] == "parent after the block")


async def test_a_scope_clears_what_was_bound_and_what_was_bound_inside_it() -> None:
    with logs.bound(jobId="outer", requestId="r1"):
        with logs.scope(liveStreamId="s1"):
            assert logs.current() == {"liveStreamId": "s1"}
            logs.bind(correlationId="c1", jobId=None)
            assert logs.current() == {"liveStreamId": "s1", "correlationId": "c1"}
        assert logs.current() == {"jobId": "outer", "requestId": "r1"}
    assert logs.current() == {}
    with pytest.raises(ValueError, match="unknown log context"):
        logs.bind(userId="u")


def test_event_fields_of_a_job_and_a_stream_event() -> None:
    job = SimpleNamespace(
        type="scrape.requested", key="tr:1", correlation_id="j1", data=SimpleNamespace(job_id="j1")
    )
    stream = SimpleNamespace(
        type="stream.started", key="s", correlation_id=None, data=SimpleNamespace(live_stream_id="s")
    )
    assert logs.event_fields(job) == {
        "jobId": "j1",
        "liveStreamId": None,
        "correlationId": "j1",
        "eventType": "scrape.requested",
    }
    assert logs.event_fields(stream)["liveStreamId"] == "s"


@pytest.mark.parametrize("fmt", logs.FORMATS)
def test_jwts_and_configured_secrets_are_redacted(
    fmt: str, capture: tuple[logging.Logger, io.StringIO, logging.Handler]
) -> None:
    logger, stream, handler = capture
    handler.setFormatter(logs.formatter(fmt, secrets=["s3cret-api-key", "short"]))
    logger.info("header Authorization: Bearer %s key=%s", JWT, "s3cret-api-key")
    try:
        raise RuntimeError(f"token {JWT}")
    except RuntimeError:
        logger.exception("failed")
    logger.info("a short word stays")
    text = stream.getvalue()
    assert JWT not in text and "s3cret-api-key" not in text
    assert text.count(logs.REDACTED) == 3
    assert "a short word stays" in text


def test_configure_installs_one_root_handler_and_restores() -> None:
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    touched: dict[str, int] = {}
    stream = io.StringIO()
    try:
        logs.configure("json", "warning", stream=stream)
        logs.configure("json", "warning", stream=stream)  # again: still one handler
        assert len(root.handlers) == 1 and root.level == logging.WARNING
        logging.getLogger("some.library").warning("from a library")
        logging.getLogger("some.library").info("below the level")
        [line] = stream.getvalue().splitlines()
        assert json.loads(line)["logger"] == "some.library"
        with pytest.raises(ValueError, match="log format"):
            logs.configure("xml")
        # As in a fresh process: the replay CLI, run in-process by other tests, sets aiokafka and
        # streams.consume quieter, and a level set on a logger wins over the root's.
        for name in (*logs.LIBRARY_LOGGERS, "streams.consume"):
            touched.setdefault(name, logging.getLogger(name).level)
            logging.getLogger(name).setLevel(logging.NOTSET)
        logs.configure("json", "DEBUG", stream=stream)  # ours at DEBUG, the libraries at INFO
        assert logging.getLogger("aiokafka.producer.producer").getEffectiveLevel() == logging.INFO
        assert logging.getLogger("streams.consume").getEffectiveLevel() == logging.DEBUG
    finally:
        for name in logs.LIBRARY_LOGGERS:
            logging.getLogger(name).setLevel(logging.NOTSET)
        for name, level in touched.items():
            logging.getLogger(name).setLevel(level)
        for handler in list(root.handlers):
            root.removeHandler(handler)
        for handler in saved[0]:
            root.addHandler(handler)
        root.setLevel(saved[1])
        logging.captureWarnings(False)


def test_the_settings() -> None:
    settings = Settings.from_env({"LOG_FORMAT": "JSON", "LOG_LEVEL": "debug"})
    assert (settings.log_format, settings.log_level) == ("json", "DEBUG")
    assert (Settings().log_format, Settings().log_level) == ("text", "INFO")
    with pytest.raises(SettingsError, match="LOG_FORMAT"):
        Settings.from_env({"LOG_FORMAT": "logfmt"})
    with pytest.raises(SettingsError, match="LOG_LEVEL"):
        Settings.from_env({"LOG_LEVEL": "verbose"})


# -- the consumers bind each record's context -------------------------------------------------
EVENTS = Path(__file__).resolve().parents[1] / "fixtures" / "events"
JOB = "550e8400-e29b-41d4-a716-446655440000"
STREAM = "65f000000000000000000001"


class Sink:
    def __init__(self) -> None:
        self.sent: list[str] = []

    async def send_raw(self, topic: str, *, key: bytes | None, value: bytes | None, headers: Headers) -> None:
        self.sent.append(topic)


def record(name: str, offset: int) -> tuple[bytes | None, RecordMeta]:
    return (EVENTS / f"{name}.json").read_bytes(), RecordMeta(topic="t", partition=0, offset=offset, key=b"k")


async def test_the_envelope_processor_binds_each_record_and_clears_after() -> None:
    seen: list[dict[str, str]] = []

    async def handler(event: Envelope, meta: RecordMeta) -> None:
        seen.append(logs.current())
        if event.type == "stream.started":
            raise RuntimeError("a bug on this record")  # logged and dead-lettered in context

    processor = EnvelopeProcessor(name="c", handler=handler, sink=Sink(), dlq_topic=lambda t: t + ".dlq")
    with logs.bound(requestId="outer"):
        for offset, name in enumerate(("scrape.requested.v1", "stream.started.v1")):
            await processor.process(*record(name, offset))
        assert logs.current() == {"requestId": "outer"}  # each record started clean, then restored
    assert seen == [
        {"jobId": JOB, "correlationId": JOB, "eventType": "scrape.requested"},
        {"liveStreamId": STREAM, "eventType": "stream.started"},
    ]


async def test_a_batch_applied_one_by_one_binds_each_record() -> None:
    seen: list[dict[str, str]] = []

    async def handler(batch: Batch, rejects: RejectSink) -> None:
        if len(batch) > 1:
            raise TypeError("one of these breaks the batch")
        seen.append(logs.current())

    processor = BatchProcessor(name="p", handler=handler, sink=Sink(), dlq_topic=lambda t: t + ".dlq")
    await processor.process([record("scrape.requested.v1", 0), record("stream.started.v1", 1)])
    assert [s.get("jobId") or s.get("liveStreamId") for s in seen] == [JOB, STREAM]
    assert logs.current() == {}
