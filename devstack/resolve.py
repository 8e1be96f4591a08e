"""Where each server comes from (env -> Docker -> local processes) and `provide_services`."""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from devstack import docker, kafka, mongo, procs
from devstack.cache import cache_root
from devstack.errors import HOW_TO_GET_SERVERS, DevstackError

logger = logging.getLogger(__name__)

KAFKA_ENV = "KAFKA_BOOTSTRAP_SERVERS"
REPLICATION_ENV = "TOPIC_REPLICATION_FACTOR"  # streams.settings reads it
MONGODB_ENV = "MONGODB_URI"
BACKEND_ENV = "DEVSTACK_BACKEND"  # auto (default) | docker | local: skip or force Docker
KEEP_ENV = "DEVSTACK_KEEP"  # 1: keep the temporary work dir (logs, data) after stop
SERVICES = ("kafka", "mongodb")
BUILD_TARGETS = ("kafka", *mongo.KINDS)
ENV_VARS = {"kafka": KAFKA_ENV, "mongodb": MONGODB_ENV}
BACKENDS = ("auto", "docker", "local")


@dataclass(frozen=True)
class Services:
    kafka_bootstrap_servers: str  # "127.0.0.1:PORT"
    mongodb_uri: str  # "mongodb://127.0.0.1:PORT/..." (local SecantusDB: "?directConnection=true")
    origin: dict[str, str] = field(hash=False)  # {"kafka": "env"|"docker"|"local", "mongodb": ...}
    kafka_brokers: int = 1  # nodes of a local Kafka cluster devstack started (DEVSTACK_KAFKA_BROKERS)

    def env(self) -> dict[str, str]:
        """The environment variables the worker and the gateway read: the two servers, and on a
        local cluster the replication factor its topics should get."""
        env = {KAFKA_ENV: self.kafka_bootstrap_servers, MONGODB_ENV: self.mongodb_uri}
        if self.kafka_brokers > 1:
            env[REPLICATION_ENV] = str(kafka.replication_factor(self.kafka_brokers))
        return env


def backend_choice(env: Mapping[str, str]) -> str:
    choice = env.get(BACKEND_ENV, "").strip().lower() or "auto"
    if choice not in BACKENDS:
        raise DevstackError(f"{BACKEND_ENV}={choice!r}: expected one of {', '.join(BACKENDS)}")
    return choice


def resolve_origins(env: Mapping[str, str], docker_ok: Callable[[], bool]) -> dict[str, str]:
    """Origin of each server: "env" if its variable is set, else "docker" if an engine answers
    (`docker_ok` is only called when needed), else "local"."""
    origins = {name: "env" for name in SERVICES if env.get(ENV_VARS[name], "").strip()}
    missing = [name for name in SERVICES if name not in origins]
    if missing:
        choice = backend_choice(env)
        backend = ("docker" if docker_ok() else "local") if choice == "auto" else choice
        origins.update(dict.fromkeys(missing, backend))
    return {name: origins[name] for name in SERVICES}


OWNER_FILE = ".devstack-owner"  # pid of the process using a temporary work dir


def _new_work_dir() -> Path:
    """A fresh temporary work dir, after removing those left by processes that were SIGKILLed."""
    root = Path(tempfile.gettempdir())
    for stale in root.glob("devstack-*"):
        try:
            owner = int((stale / OWNER_FILE).read_text())
        except (OSError, ValueError):  # no owner file: kept on purpose, or not ours
            continue
        if not procs.pid_exists(owner):
            shutil.rmtree(stale, ignore_errors=True)
    work = Path(tempfile.mkdtemp(prefix="devstack-"))
    (work / OWNER_FILE).write_text(str(os.getpid()))
    return work


def _keep_requested(env: Mapping[str, str]) -> bool:
    return env.get(KEEP_ENV, "").strip().lower() not in ("", "0", "false", "no")


def build_targets(targets: Sequence[str], *, log: Callable[[str], None] = logger.info) -> dict[str, Path]:
    """Build each of `targets` ("kafka", "secantus", "ferretdb") into the cache once, cold
    builds in parallel; returns the Kafka jars dir and the servers' binaries by target."""
    cache = cache_root()
    jobs: dict[str, Callable[[], Path]] = {}
    for target in dict.fromkeys(targets):
        if target == "kafka":
            jobs[target] = lambda: kafka.ensure_libs(cache, log=log)
        elif target in mongo.KINDS:
            jobs[target] = functools.partial(mongo.ensure_mongo_binary, target, cache, log=log)
        else:
            raise DevstackError(f"unknown build target {target!r}: expected one of {BUILD_TARGETS}")
    if len(jobs) == 1:
        return {name: job() for name, job in jobs.items()}
    with ThreadPoolExecutor(max_workers=len(jobs), thread_name_prefix="devstack-build") as pool:
        futures = {name: pool.submit(job) for name, job in jobs.items()}
        return {name: future.result() for name, future in futures.items()}


def ensure_local_builds(
    names: tuple[str, ...] | list[str] = SERVICES, *, log: Callable[[str], None] = logger.info
) -> dict[str, Path]:
    """What local `names` ("kafka", "mongodb") need, by build target: the Kafka jars and/or
    the binary of the MongoDB-wire server DEVSTACK_MONGO chooses."""
    targets = [name if name == "kafka" else mongo.mongo_choice() for name in names]
    return build_targets(targets, log=log)


def _start_local(
    built: dict[str, Path], work: Path, stack: contextlib.ExitStack, log: Callable[[str], None]
) -> dict[str, str]:
    """Start the Mongo-wire server and/or Kafka (whichever `built` has) with data under `work`."""
    values: dict[str, str] = {}
    for kind in [target for target in built if target in mongo.KINDS]:
        server = mongo.start_mongo(kind, built[kind], work / kind, log=log)
        stack.callback(server.process.stop)
        values["mongodb"] = server.uri
    if "kafka" in built:
        broker = kafka.start_kafka(built["kafka"], work / "kafka", brokers=kafka.broker_count(), log=log)
        stack.callback(broker.stop)  # runs before the work dir is removed
        values["kafka"] = broker.bootstrap_servers
    return values


def _start_container(name: str, stack: contextlib.ExitStack, log: Callable[[str], None]) -> str:
    factory = docker.kafka_container if name == "kafka" else docker.mongodb_container
    return stack.enter_context(factory(log=log))


@dataclass(frozen=True)
class Backends:
    """Where servers come from: the Docker probe, containers, local builds and local processes.
    `provide_services` takes them as a parameter, so its resolution logic is tested with stand-ins
    passed in, not by patching this module."""

    docker_available: Callable[[], bool] = docker.docker_available
    container: Callable[[str, contextlib.ExitStack, Callable[[str], None]], str] = _start_container
    builds: Callable[..., dict[str, Path]] = ensure_local_builds
    start_local: Callable[
        [dict[str, Path], Path, contextlib.ExitStack, Callable[[str], None]], dict[str, str]
    ] = _start_local


REAL_BACKENDS = Backends()


@contextlib.contextmanager
def provide_services(
    *,
    work_dir: Path | None = None,
    log: Callable[[str], None] = logger.info,
    keep_logs: bool | None = None,
    backends: Backends = REAL_BACKENDS,
) -> Iterator[Services]:
    """Resolve env -> docker -> local processes; stop whatever it started on exit.

    Local servers keep logs and data in `work_dir` (default: a fresh temporary directory that is
    deleted on exit unless `keep_logs` / DEVSTACK_KEEP=1, or something failed).
    """
    env = os.environ
    kind = mongo.mongo_choice(env)  # a typo in DEVSTACK_MONGO fails at once, wherever from
    brokers = kafka.broker_count(env)  # and one in DEVSTACK_KAFKA_BROKERS
    origins = resolve_origins(env, backends.docker_available)
    if brokers > 1 and origins["kafka"] != "local":
        log(f"{kafka.BROKERS_ENV}={brokers} is for local Kafka processes only; kafka is {origins['kafka']}")
    values = {name: env[ENV_VARS[name]].strip() for name in SERVICES if origins[name] == "env"}
    keep = _keep_requested(env) if keep_logs is None else keep_logs
    stack = contextlib.ExitStack()
    work: Path | None = None

    def finish(failed: bool) -> None:
        stack.close()  # stop processes and containers before their work dir goes away
        if work is not None and work_dir is None:
            if keep or failed:
                (work / OWNER_FILE).unlink(missing_ok=True)  # never swept by a later run
                log(f"devstack work dir kept: {work}")
            else:
                shutil.rmtree(work, ignore_errors=True)

    with procs.exit_on_termination():
        try:
            for name in [n for n in SERVICES if origins[n] == "docker"]:
                try:
                    values[name] = backends.container(name, stack, log)
                except Exception as exc:  # image pull, engine gone, ...: any failure
                    if backend_choice(env) == "docker":
                        raise DevstackError(
                            f"{name}: Docker container failed: {exc!r}\n\n{HOW_TO_GET_SERVERS}"
                        ) from exc
                    log(f"{name}: Docker container failed ({exc!r}); using a local process instead")
                    origins[name] = "local"
            local = [name for name in SERVICES if origins[name] == "local"]
            if local:
                built = backends.builds(local, log=log)  # before any work dir exists
                work = Path(work_dir) if work_dir is not None else _new_work_dir()
                work.mkdir(parents=True, exist_ok=True)
                values.update(backends.start_local(built, work, stack, log))
            cluster = brokers if origins["kafka"] == "local" else 1
            services = Services(values["kafka"], values["mongodb"], dict(origins), cluster)
        except BaseException as exc:
            finish(failed=isinstance(exc, Exception))
            if isinstance(exc, DevstackError) and work is not None:
                raise DevstackError(f"{exc}\n(devstack work dir kept for inspection: {work})") from exc
            raise
        log(
            f"services: kafka={services.kafka_bootstrap_servers} ({origins['kafka']}"
            f"{f', {cluster} brokers' if cluster > 1 else ''}), "
            f"mongodb={services.mongodb_uri} ({origins['mongodb']}"
            f"{' ' + kind if origins['mongodb'] == 'local' else ''})"
        )
        failed = False
        try:
            yield services
        except Exception:
            failed = True
            raise
        finally:
            finish(failed)


def describe_plan(env: Mapping[str, str] | None = None) -> list[str]:
    """Human-readable lines: where each server would come from and what that needs."""
    env = os.environ if env is None else env
    docker_ok: list[bool] = []

    def probe() -> bool:
        docker_ok.append(docker.docker_available())
        return docker_ok[-1]

    origins = resolve_origins(env, probe)
    cache = cache_root(env)
    lines = [
        f"backend choice: {backend_choice(env)} ({BACKEND_ENV})",
        f"local MongoDB-wire server: {mongo.mongo_choice(env)} ({mongo.MONGO_ENV})",
    ]
    if docker_ok:
        lines.append(f"docker engine: {'answers' if docker_ok[0] else 'not reachable'}")
    for name in SERVICES:
        origin = origins[name]
        if origin == "env":
            detail = f"{ENV_VARS[name]}={env[ENV_VARS[name]].strip()}"
        elif origin == "docker":
            image = docker.KAFKA_IMAGE if name == "kafka" else docker.MONGODB_IMAGE
            detail = f"testcontainers, image {image}"
        elif name == "kafka":
            libs = kafka.libs_dir(cache)
            state = "cached" if libs.is_dir() else f"to build with mvn ({shutil.which('mvn') or 'MISSING'})"
            java = shutil.which("java") or "MISSING"
            nodes = kafka.broker_count(env)
            shape = f"{nodes}-node cluster" if nodes > 1 else "one broker"
            detail = f"Kafka {kafka.kafka_version()} ({shape}) jars {state} at {libs}; java: {java}"
        else:
            detail = mongo.describe(mongo.mongo_choice(env), cache)
        lines.append(f"{name}: {origin} - {detail}")
    return lines
