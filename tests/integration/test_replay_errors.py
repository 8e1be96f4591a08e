"""The CLI's failures, run as `python -m projections.replay` subprocesses: one line on stderr (no
traceback) and exit status 2."""

from __future__ import annotations

import pytest

from streams.settings import Settings
from streams.topics import TopicNames
from tests.integration.replay_cli import Result, cli_process, connection_args
from tests.support import free_port

pytestmark = pytest.mark.integration


def one_line_error(result: Result, *fragments: str) -> None:
    assert result.code == 2, (result.out, result.err)
    lines = result.err.strip().splitlines()
    assert len(lines) == 1, result.err
    assert lines[0].startswith("streamproc-replay: error: ")
    for fragment in fragments:
        assert fragment in lines[0]


async def test_unknown_topic(settings: Settings, topics: TopicNames, tmp_path) -> None:
    conn = connection_args(settings)
    for args in (
        [
            "export",
            "--topic",
            "no.such.topic",
            "--format",
            "jsonl",
            "--out",
            str(tmp_path / "x.jsonl"),
        ],
        ["dlq", "list", "--topic", "no.such.topic"],
    ):
        one_line_error(await cli_process([*args, *conn]), "unknown topic", "no.such.topic")
    assert not (tmp_path / "x.jsonl").exists()


async def test_unreachable_broker() -> None:
    closed = f"127.0.0.1:{free_port()}"
    result = await cli_process(
        [
            "export",
            "--topic",
            "netflix.job-events",
            "--format",
            "jsonl",
            "--out",
            "/tmp/never.jsonl",
            "--bootstrap",
            closed,
            "--connect-timeout",
            "2",
        ]
    )
    one_line_error(result, f"Kafka at {closed} is unreachable (waited 2 s)")


async def test_bad_ranges_and_unknown_projection(settings: Settings, topics: TopicNames) -> None:
    conn = connection_args(settings)
    export = ["export", "--topic", "netflix.job-events", "--format", "jsonl", "--out", "/tmp/x"]
    one_line_error(
        await cli_process([*export, "--from", "offset:10", "--to", "offset:5", *conn]),
        "bad range",
        "offset:10",
    )
    one_line_error(
        await cli_process([*export, "--from", "2026-05-02T00:00:00Z", "--to", "2026-05-01T00:00:00Z", *conn]),
        "bad range",
    )
    one_line_error(await cli_process([*export, "--from", "yesterday", *conn]), "bad time 'yesterday'")
    one_line_error(
        await cli_process(["rebuild", "jobs", "--until", "time:2026-05-01T12:00", *conn]),
        "bad time",
    )
    one_line_error(
        await cli_process(["rebuild", "movies", *conn]),
        "unknown projection 'movies'",
        "jobs, livestream, titles",
    )
    one_line_error(await cli_process(["export", "--topic", "x"]), "--format, --out")
