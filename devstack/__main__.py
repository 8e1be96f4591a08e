"""Command line: `python -m devstack {up,run,build,check}`."""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Sequence

from devstack import mongo, procs
from devstack.errors import DevstackError
from devstack.resolve import build_targets, describe_plan, ensure_local_builds, provide_services
from devstack.supervise import StopRequested, parse_proc_spec, stop_signals, supervise

logger = logging.getLogger("devstack.cli")  # __name__ is "__main__" under -m


def _cmd_up(args: argparse.Namespace) -> int:
    with stop_signals() as state:
        try:
            with provide_services(keep_logs=args.keep_logs or None) as services:
                for key, value in services.env().items():
                    print(f"{key}={value}", flush=True)
                print("# servers up; Ctrl-C or SIGTERM stops them", file=sys.stderr, flush=True)
                servers = procs.running()
                while True:
                    for proc in servers:
                        if proc.poll() is not None:
                            state.stopping = True
                            print(
                                f"devstack: {proc.name} exited with code {proc.poll()}",
                                file=sys.stderr,
                            )
                            return 1
                    time.sleep(0.5)
        except StopRequested as stop:
            print(f"devstack: {stop} received, servers stopped", file=sys.stderr)
            return 0


def _cmd_run(args: argparse.Namespace) -> int:
    try:
        specs = [parse_proc_spec(text) for text in args.proc]
    except ValueError as exc:
        print(f"devstack run: {exc}", file=sys.stderr)
        return 2
    with stop_signals() as state:
        try:
            with provide_services(keep_logs=args.keep_logs or None) as services:
                return supervise(
                    specs, services.env(), state, ready_url=args.ready_url, watch=procs.running()
                )
        except StopRequested as stop:
            print(f"devstack: {stop} received, everything stopped", file=sys.stderr)
            return 0


def _cmd_build(args: argparse.Namespace) -> int:
    started = time.monotonic()
    if args.mongo is None:
        built = ensure_local_builds(log=logger.info)  # Kafka + the DEVSTACK_MONGO server
    else:
        kinds = list(mongo.KINDS) if args.mongo == "all" else [args.mongo]
        built = build_targets(["kafka", *kinds], log=logger.info)
    for name, path in built.items():
        print(f"{name}: {path}")
    print(f"build took {time.monotonic() - started:.1f} s")
    return 0


def _cmd_check(args: argparse.Namespace) -> int:
    for line in describe_plan():
        print(line)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m devstack",
        description="Kafka + MongoDB-wire servers for development: from KAFKA_BOOTSTRAP_SERVERS / "
        "MONGODB_URI, else Docker (testcontainers), else local processes (Kafka 3.9 + SecantusDB "
        "or FerretDB, see DEVSTACK_MONGO).",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)

    up = sub.add_parser("up", help="start the servers, print their env lines, wait for Ctrl-C/SIGTERM")
    up.add_argument("--keep-logs", action="store_true", help="keep the work dir (logs, data) after stop")
    up.set_defaults(func=_cmd_up)

    run = sub.add_parser("run", help="start the servers and supervise named commands next to them")
    run.add_argument(
        "--proc",
        action="append",
        required=True,
        metavar="NAME=COMMAND",
        help="a child command (shell-split, no shell); repeatable",
    )
    run.add_argument("--ready-url", help='poll this URL until it answers 200, then print "ready: URL"')
    run.add_argument("--keep-logs", action="store_true", help="keep the work dir (logs, data) after stop")
    run.set_defaults(func=_cmd_run)

    build = sub.add_parser(
        "build", help="make sure the Kafka jars and the MongoDB-wire server binary are cached"
    )
    build.add_argument(
        "--mongo",
        choices=[*mongo.KINDS, "all"],
        help=f"which MongoDB-wire server(s) to build besides Kafka (default: ${mongo.MONGO_ENV}, "
        f"else {mongo.DEFAULT_KIND})",
    )
    build.set_defaults(func=_cmd_build)

    check = sub.add_parser("check", help="print where each server would come from")
    check.set_defaults(func=_cmd_check)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="devstack: %(message)s", stream=sys.stderr)
    logging.getLogger("devstack").setLevel(logging.DEBUG if args.verbose else logging.INFO)
    try:
        return int(args.func(args))
    except DevstackError as exc:
        print(f"devstack: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
