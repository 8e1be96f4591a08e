"""Entrypoint: `python -m runtime worker` runs the Faust worker built from the environment."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys

import faust

from runtime.worker import build_worker, ensure_worker_topics
from streams import logs
from streams.settings import Settings


def secrets(settings: Settings) -> list[str]:
    """What must never be in a log line, whatever a log call is handed (streams/logs.py)."""
    return [*settings.api_keys, settings.jwt_secret]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m runtime", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("worker", help="run the Faust worker (scrape agent + projections)")
    run.add_argument("--loglevel", default=None, help="the root log level (default: LOG_LEVEL)")
    args = parser.parse_args(argv)
    settings = Settings.from_env()
    level = (args.loglevel or settings.log_level).upper()
    logs.configure(settings.log_format, level, secrets=secrets(settings))
    # Faust subscribes before it declares: a topic missing at that moment gets no partitions.
    asyncio.run(ensure_worker_topics(settings))
    worker = build_worker(settings)
    logging.getLogger("faust").setLevel(logging.WARNING)
    # override_logging=False: mode would replace our root handler with its own (colorlog, text)
    # and send print() into the log; with it off, Faust's and aiokafka's lines, like ours, go
    # through the one handler `logs.configure` installed.
    faust_worker = faust.Worker(worker.app, loglevel=level, quiet=True, override_logging=False)
    # Its terminal spinner writes cursor codes to stdout (mode's logging setup, now skipped,
    # is what would have turned it off): none in a log.
    faust_worker.spinner = None
    faust_worker.execute_from_commandline()  # exits the process
    return 0


if __name__ == "__main__":
    sys.exit(main())
