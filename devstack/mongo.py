"""The local MongoDB-wire server: SecantusDB (default) or FerretDB, chosen by DEVSTACK_MONGO."""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from devstack import ferretdb, procs, secantus
from devstack.cache import Log, cache_root
from devstack.errors import DevstackError

logger = logging.getLogger(__name__)

MONGO_ENV = "DEVSTACK_MONGO"
KINDS = ("secantus", "ferretdb")
DEFAULT_KIND = "secantus"


@dataclass(frozen=True)
class LocalMongo:
    kind: str
    uri: str
    process: procs.ManagedProcess
    work_dir: Path


@dataclass(frozen=True)
class _Server:
    label: str  # for people: name and version
    tool: str  # what a cold build needs
    binary_path: Callable[[Path], Path]
    ensure_binary: Callable[..., Path]
    start: Callable[[Path, Path, Log], tuple[str, procs.ManagedProcess]]


def _start_secantus(binary: Path, work_dir: Path, log: Log) -> tuple[str, procs.ManagedProcess]:
    server = secantus.start_secantus(binary, work_dir, log=log)
    return server.uri, server.process


def _start_ferretdb(binary: Path, work_dir: Path, log: Log) -> tuple[str, procs.ManagedProcess]:
    server = ferretdb.start_ferretdb(binary, work_dir, log=log)
    return server.uri, server.process


def _servers() -> dict[str, _Server]:
    return {
        "secantus": _Server(
            f"SecantusDB {secantus.VERSION}",
            "cargo",
            secantus.binary_path,
            secantus.ensure_binary,
            _start_secantus,
        ),
        "ferretdb": _Server(
            f"FerretDB {ferretdb.ferretdb_version()}",
            "go",
            ferretdb.binary_path,
            ferretdb.ensure_binary,
            _start_ferretdb,
        ),
    }


def _server(kind: str) -> _Server:
    if kind not in KINDS:
        raise DevstackError(f"unknown MongoDB-wire server {kind!r}: expected one of {KINDS}")
    return _servers()[kind]


def mongo_choice(env: Mapping[str, str] | None = None) -> str:
    """DEVSTACK_MONGO: "secantus" (default) or "ferretdb"."""
    env = os.environ if env is None else env
    choice = env.get(MONGO_ENV, "").strip().lower() or DEFAULT_KIND
    if choice not in KINDS:
        raise DevstackError(f"{MONGO_ENV}={choice!r}: expected one of {', '.join(KINDS)}")
    return choice


def ensure_mongo_binary(kind: str, cache: Path, *, log: Log = logger.info) -> Path:
    """The `kind` server's binary in the cache, built first if missing."""
    built: Path = _server(kind).ensure_binary(cache, log=log)
    return built


def start_mongo(kind: str, binary: Path, work_dir: Path, *, log: Log = logger.info) -> LocalMongo:
    """Start the `kind` server with data and log under `work_dir`; return once it answers ping."""
    uri, process = _server(kind).start(binary, work_dir, log)
    return LocalMongo(kind, uri, process, work_dir)


def describe(kind: str, cache: Path) -> str:
    """One line: which server, whether its binary is cached, what a build would need."""
    server = _server(kind)
    binary = server.binary_path(cache)
    if binary.is_file():
        state = "cached"
    else:
        state = f"to build with {server.tool} ({shutil.which(server.tool) or 'MISSING'})"
    return f"{server.label} binary {state} at {binary} ({MONGO_ENV}={kind})"


@contextlib.contextmanager
def start_local_mongo(kind: str, work_dir: Path, *, log: Log = logger.info) -> Iterator[str]:
    """Build (once) and start a local `kind` server ("secantus" or "ferretdb") with its data and
    log under `work_dir`; yield its URI; stop it on exit, whatever the exit.

    Independent of DEVSTACK_MONGO and of `provide_services`, so a test suite can run a second
    implementation beside the one it got from `provide_services`.
    """
    binary = ensure_mongo_binary(kind, cache_root(), log=log)
    with procs.exit_on_termination():
        server = start_mongo(kind, binary, work_dir, log=log)
        try:
            yield server.uri
        finally:
            server.process.stop()
