"""Entrypoint: `python -m runtime worker` runs the Faust worker built from the environment."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys

import faust

from runtime.worker import build_worker, ensure_worker_topics
from streams.settings import Settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m runtime", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("worker", help="run the Faust worker (scrape agent + projections)")
    run.add_argument("--loglevel", default="info")
    args = parser.parse_args(argv)
    settings = Settings.from_env()
    # Faust subscribes before it declares: a topic missing at that moment gets no partitions.
    asyncio.run(ensure_worker_topics(settings))
    worker = build_worker(settings)
    logging.getLogger("faust").setLevel(logging.WARNING)
    faust_worker = faust.Worker(worker.app, loglevel=args.loglevel, quiet=True)
    faust_worker.execute_from_commandline()  # exits the process
    return 0


if __name__ == "__main__":
    sys.exit(main())
