"""Entrypoint: `python -m gateway` serves REST and Socket.IO on HOST:PORT from the environment."""

from __future__ import annotations

import sys

from aiohttp import web

from gateway.app import create_app
from streams import logs
from streams.settings import Settings


def main() -> int:
    settings = Settings.from_env()
    # What must never be in a log line, whatever a log call is handed (streams/logs.py).
    logs.configure(settings.log_format, settings.log_level, secrets=[*settings.api_keys, settings.jwt_secret])
    web.run_app(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        print=None,
        access_log=None,  # off: a line per request is noise here (and would log query strings)
        shutdown_timeout=5.0,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
