"""The single exception type devstack raises, and the "how to get a server" help text."""

from __future__ import annotations

HOW_TO_GET_SERVERS = """\
How to get a Kafka broker and a MongoDB-wire server for this project (any one of these):
  1. Point at running servers:  export KAFKA_BOOTSTRAP_SERVERS=host:9092
                                export MONGODB_URI=mongodb://host:27017/
     (each variable independently; devstack then starts nothing for that server)
  2. Install and start a Docker engine (`docker info` must answer); devstack then uses
     testcontainers (confluentinc/cp-kafka:7.9.0, mongo:7),
     or run `docker compose -f docker-compose.kafka.yml up -d` and use option 1.
  3. Install Java 17+ and Maven 3 (for Kafka, from Maven Central) and a Rust toolchain with
     cargo, CMake and a C compiler (for SecantusDB, from crates.io) -- or Go 1.24+ with
     DEVSTACK_MONGO=ferretdb (for FerretDB, from the Go module proxy); devstack then builds a
     local Kafka 3.9 broker and the MongoDB-wire server once into its cache and runs them as
     local processes (`python -m devstack build` to prepare the cache)."""


class DevstackError(RuntimeError):
    """Raised when no Kafka / MongoDB-wire server can be provided (message says what to do)."""
