"""Entrypoint of `python -m projections.replay` / `streamproc-replay`: argument wiring only."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from pathlib import Path
from typing import Any, NoReturn, TextIO

from projections.registry import PROJECTIONS
from projections.replay.ranges import Range, parse_bound, parse_range
from projections.replay.reader import resolve_topic
from streams.errors import AppError, ValidationError
from streams.settings import Settings

PROG = "streamproc-replay"
EXIT_USAGE = 2


class UsageError(ValidationError):
    """A command line argparse refused."""


class Parser(argparse.ArgumentParser):
    """argparse, but a bad command line is one line on stderr (raised, then printed by run)."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see {self.prog} --help)")


def _common() -> Parser:
    common = Parser(add_help=False)
    group = common.add_argument_group("connections (default: the environment)")
    group.add_argument("--bootstrap", help="Kafka bootstrap servers (KAFKA_BOOTSTRAP_SERVERS)")
    group.add_argument("--mongodb-uri", help="MongoDB URI (MONGODB_URI)")
    group.add_argument("--database", help="MongoDB database (MONGODB_DATABASE)")
    group.add_argument("--prefix", help="topic prefix of the deployment (TOPIC_PREFIX)")
    group.add_argument(
        "--connect-timeout",
        type=float,
        default=10.0,
        metavar="S",
        help="how long to wait for an unreachable broker (default 10)",
    )
    common.add_argument(
        "--progress",
        action="store_true",
        default=None,
        help="show the progress bar even when stderr is not a terminal",
    )
    common.add_argument("-v", "--verbose", action="store_true", help="log at INFO")
    return common


def build_parser() -> Parser:
    common = _common()
    parser = Parser(
        prog=PROG,
        description="Rebuild read models from the event log, export topic "
        "ranges, inspect and redrive dead letters. Exit status: 0 done, 1 --verify "
        "found differences, 2 usage or operational error.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    rb = sub.add_parser(
        "rebuild",
        parents=[common],
        help="rebuild a read model from offset 0",
        description="Replay a projection's topic into fresh collections with "
        "the worker's handler, then switch reads to them.",
    )
    rb.add_argument("projection", help=f"one of: {', '.join(sorted(PROJECTIONS))}")
    rb.add_argument(
        "--verify",
        action="store_true",
        help="compare with the live collections before switching; exit 1 on differences",
    )
    rb.add_argument(
        "--until",
        metavar="BOUND",
        help="build the state before BOUND (offset:N, time:RFC3339, or either), no switch",
    )
    rb.add_argument(
        "--into",
        metavar="NAME",
        help="build into NAME (NAME__<collection> for "
        "several) and switch nothing; default with --until: <collection>__at_<bound>",
    )
    rb.add_argument("--dry-run", action="store_true", help="say what would be done")
    rb.add_argument("--drop-old", action="store_true", help="drop the old collections after the switch")
    rb.add_argument("--show", type=int, default=20, metavar="N", help="differences to print (20)")
    rb.add_argument(
        "--live-group",
        metavar="GROUP",
        help="the live worker's consumer group (default <prefix><APP_ID>)",
    )
    rb.add_argument(
        "--verify-timeout",
        type=float,
        default=30.0,
        metavar="S",
        help="how long --verify waits for the live worker to reach the rebuild (30)",
    )
    rb.set_defaults(func=_rebuild)

    ex = sub.add_parser(
        "export",
        parents=[common],
        help="export a topic range as jsonl/parquet",
        description="One row per record; payloads upcast to their latest version.",
    )
    ex.add_argument(
        "--topic",
        required=True,
        help="public name (netflix.job-events; the prefix is added) or a full name",
    )
    ex.add_argument("--from", dest="start", metavar="BOUND", help="first record (inclusive)")
    ex.add_argument("--to", dest="end", metavar="BOUND", help="end (exclusive)")
    ex.add_argument("--format", required=True, choices=("jsonl", "parquet"))
    ex.add_argument("--out", required=True, type=Path, metavar="PATH")
    ex.set_defaults(func=_export)

    dlq = sub.add_parser("dlq", help="dead-letter topics").add_subparsers(
        dest="dlq_command", required=True, metavar="COMMAND"
    )
    ls = dlq.add_parser("list", parents=[common], help="list dead-lettered records")
    ls.add_argument("--topic", required=True, help="the topic or its .dlq (public or full name)")
    ls.set_defaults(func=_dlq_list)
    rd = dlq.add_parser("redrive", parents=[common], help="send dead letters back, once each")
    rd.add_argument("--topic", required=True, help="the topic or its .dlq (public or full name)")
    rd.add_argument(
        "--offset",
        action="append",
        metavar="[P:]N",
        help="only this DLQ record (repeatable); default: every one not yet redriven",
    )
    rd.add_argument(
        "--value-file",
        type=Path,
        metavar="F",
        help="send this fixed value instead of the dead-lettered one (one record)",
    )
    rd.add_argument("--dry-run", action="store_true", help="say what would be sent")
    rd.set_defaults(func=_dlq_redrive)
    return parser


def settings_from(args: argparse.Namespace) -> Settings:
    overrides: dict[str, Any] = {}
    for flag, field in (
        ("bootstrap", "kafka_bootstrap_servers"),
        ("mongodb_uri", "mongodb_uri"),
        ("database", "mongodb_database"),
        ("prefix", "topic_prefix"),
    ):
        if getattr(args, flag, None) is not None:
            overrides[field] = getattr(args, flag)
    return Settings.from_env(**overrides)


async def _rebuild(settings: Settings, args: argparse.Namespace, out: TextIO) -> int:
    from projections.replay.rebuild import RebuildOptions, projection_named, rebuild

    projection_named(args.projection)  # an unknown name fails before any connection
    until = parse_bound(args.until) if args.until is not None else None
    return await rebuild(
        settings,
        RebuildOptions(
            projection=args.projection,
            verify=args.verify,
            until=until,
            into=args.into,
            dry_run=args.dry_run,
            drop_old=args.drop_old,
            show=args.show,
            live_group=args.live_group,
            verify_timeout=args.verify_timeout,
            progress=args.progress,
            connect_timeout=args.connect_timeout,
        ),
        out,
    )


async def _export(settings: Settings, args: argparse.Namespace, out: TextIO) -> int:
    from projections.replay.export import ExportOptions, export  # pyarrow only when exporting

    rng: Range = parse_range(args.start, args.end)
    return await export(
        settings,
        ExportOptions(
            topic=resolve_topic(args.topic, settings.topic_prefix),
            range=rng,
            format=args.format,
            out=args.out,
            progress=args.progress,
            connect_timeout=args.connect_timeout,
        ),
        out,
    )


async def _dlq_list(settings: Settings, args: argparse.Namespace, out: TextIO) -> int:
    from projections.replay.dlq import list_dead_letters

    return await list_dead_letters(
        settings, args.topic, out, progress=args.progress, connect_timeout=args.connect_timeout
    )


async def _dlq_redrive(settings: Settings, args: argparse.Namespace, out: TextIO) -> int:
    from projections.replay.dlq import redrive

    return await redrive(
        settings,
        args.topic,
        out,
        offsets=args.offset,
        value_file=args.value_file,
        dry_run=args.dry_run,
        progress=args.progress,
        connect_timeout=args.connect_timeout,
    )


def _configure_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        stream=sys.stderr,
        format="%(levelname)s %(name)s: %(message)s",
    )
    if not verbose:
        # aiokafka logs every refused connection while we wait for a broker, and the pipeline a
        # warning per record the worker dead-lettered: the command reports both itself.
        logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
        logging.getLogger("streams.consume").setLevel(logging.ERROR)


async def run(argv: list[str] | None = None, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Exit status: 0 done, 1 `--verify` found differences, 2 a usage or operational error."""
    out = out or sys.stdout
    err = err or sys.stderr
    try:
        args = build_parser().parse_args(argv)
        _configure_logging(args.verbose)
        settings = settings_from(args)
        status: int = await args.func(settings, args, out)
        return status
    except AppError as exc:
        print(f"{PROG}: error: {exc.message}", file=err)
        return EXIT_USAGE


def main(argv: list[str] | None = None) -> int:
    try:
        return asyncio.run(run(argv))
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
