"""Entrypoint: `python -m gateway` serves REST and Socket.IO on HOST:PORT from the environment."""

from __future__ import annotations

import logging
import sys

from aiohttp import web

from gateway.app import create_app
from streams.settings import Settings


def main() -> int:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s", stream=sys.stderr
    )
    settings = Settings.from_env()
    web.run_app(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        print=None,
        access_log=None,
        shutdown_timeout=5.0,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
