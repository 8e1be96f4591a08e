"""Command line: `python -m devstack {up,run,build,check}`."""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from devstack import mongo, nginx, procs
from devstack.errors import DevstackError
from devstack.nginx import NginxSite
from devstack.resolve import build_targets, describe_plan, ensure_local_builds, provide_services
from devstack.restart import RestartPolicy
from devstack.supervise import ProcSpec, StopRequested, parse_proc_spec, stop_signals, supervise
from devstack.topology import LB_CHOICES, Topology, parse_lb

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


def _run_plan(args: argparse.Namespace) -> tuple[list[ProcSpec], list[str], NginxSite | None]:
    """The children of `run`: the --workers/--gateways expansion, then each --proc as given."""
    specs: list[ProcSpec] = []
    ready = list(args.ready_url or [])
    site = None
    if args.workers or args.gateways or parse_lb(args.lb):
        topology = Topology(
            workers=args.workers,
            gateways=args.gateways,
            port=args.port,
            lb=parse_lb(args.lb),
            listen_host=os.environ.get("HOST") or "0.0.0.0",
            # METRICS_PORT in make run's environment: the first worker's; the others count up
            metrics_port=int(os.environ["METRICS_PORT"]) if os.environ.get("METRICS_PORT") else None,
        )
        worker_argv = parse_proc_spec(f"worker={args.worker_cmd}").argv
        gateway_argv = parse_proc_spec(f"gateway={args.gateway_cmd}").argv
        plan = topology.expand(worker_argv, gateway_argv)
        specs, site = plan.specs, plan.nginx
        ready = plan.ready_urls + ready
    specs += [parse_proc_spec(text) for text in args.proc or []]
    names = [spec.name for spec in specs]
    if not specs:
        raise ValueError("nothing to run: give --workers/--gateways or --proc NAME=COMMAND")
    if len(set(names)) != len(names) or (site is not None and "nginx" in names):
        raise ValueError(f"child names must be unique: {names}")
    return specs, ready, site


def _cmd_run(args: argparse.Namespace) -> int:
    try:
        specs, ready_urls, site = _run_plan(args)
    except ValueError as exc:
        print(f"devstack run: {exc}", file=sys.stderr)
        return 2
    restart = None if args.no_restart else RestartPolicy()
    work = Path(tempfile.mkdtemp(prefix="streamproc-run-"))
    try:
        if site is not None:  # before any server starts: a missing nginx fails at once
            specs.append(ProcSpec("nginx", nginx.prepare(site, work / "nginx")))
            print(
                f"devstack: nginx on port {site.listen_port}, its logs in {work / 'nginx'}", file=sys.stderr
            )
        with stop_signals() as state:
            try:
                with provide_services(keep_logs=args.keep_logs or None) as services:
                    return supervise(
                        specs,
                        services.env(),
                        state,
                        ready_urls=ready_urls,
                        watch=procs.running(),
                        restart=restart,
                    )
            except StopRequested as stop:
                print(f"devstack: {stop} received, everything stopped", file=sys.stderr)
                return 0
    finally:
        if not args.keep_logs:
            shutil.rmtree(work, ignore_errors=True)


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

    run = sub.add_parser(
        "run",
        help="start the servers and supervise workers, gateways (nginx in front) and named commands",
        description="Children that exit are restarted with exponential backoff (0.5 s doubling to "
        "30 s, back to 0.5 s once one stayed up 60 s); a server that exits, or SIGINT/SIGTERM, stops "
        "everything: the children first, then the servers.",
    )
    run.add_argument("--workers", type=int, default=0, metavar="N", help="workers worker-1..N")
    run.add_argument(
        "--gateways",
        type=int,
        default=0,
        metavar="N",
        help="gateways gateway-1..N on PORT, PORT+1, ... (PORT+1, ... when nginx is in front)",
    )
    run.add_argument(
        "--port", type=int, default=int(os.environ.get("PORT") or 3000), help="the public port ($PORT, 3000)"
    )
    run.add_argument(
        "--lb",
        default="auto",
        metavar="|".join(LB_CHOICES),
        help="nginx on PORT in front of the gateways: auto = when there is more than one",
    )
    run.add_argument("--worker-cmd", default="python -m runtime worker", help="a worker's command")
    run.add_argument("--gateway-cmd", default="python -m gateway", help="a gateway's command (reads PORT)")
    run.add_argument(
        "--proc",
        action="append",
        metavar="NAME=COMMAND",
        help="another child command (shell-split, no shell); repeatable",
    )
    run.add_argument(
        "--ready-url",
        action="append",
        help='poll this URL until it answers 200, then print "ready: URL"; repeatable '
        "(every gateway's and nginx's /readyz are polled without asking)",
    )
    run.add_argument(
        "--no-restart", action="store_true", help="a child that exits stops everything (exit code: its own)"
    )
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
