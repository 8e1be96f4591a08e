"""Dev servers for tests and `make run`: Kafka + a MongoDB-wire server (env, Docker or local)."""

from __future__ import annotations

from devstack.errors import DevstackError
from devstack.mongo import start_local_mongo
from devstack.resolve import Services, provide_services

__all__ = ["DevstackError", "Services", "provide_services", "start_local_mongo"]
