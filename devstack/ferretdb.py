"""Local FerretDB v1 server (SQLite backend, MongoDB wire protocol), built once with Go."""

from __future__ import annotations

import logging
import os
import re
import shutil
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from devstack.cache import Log, build_once, hash_files, require_tool, run_build_step
from devstack.errors import DevstackError
from devstack.procs import ManagedProcess, start_process
from devstack.startup import start_mongo_wire

logger = logging.getLogger(__name__)

SOURCE_DIR = Path(__file__).with_name("ferretdb")
SOURCE_FILES = ("go.mod", "go.sum", "main.go")
BINARY_NAME = "ferretdb-sqlite"
START_TIMEOUT = 60.0


@lru_cache(maxsize=1)
def ferretdb_version(source_dir: Path = SOURCE_DIR) -> str:
    """The FerretDB module version required by devstack/ferretdb/go.mod (e.g. "v1.24.2")."""
    match = re.search(r"github\.com/FerretDB/FerretDB (v[0-9][^\s]*)", (source_dir / "go.mod").read_text())
    if match is None:
        raise DevstackError(f"{source_dir / 'go.mod'} does not require github.com/FerretDB/FerretDB")
    return match.group(1)


def source_hash(source_dir: Path = SOURCE_DIR) -> str:
    """Hash of go.mod + go.sum + main.go: any change to them means a rebuild."""
    return hash_files([source_dir / name for name in SOURCE_FILES])


def binary_path(cache: Path, source_dir: Path = SOURCE_DIR) -> Path:
    return cache / f"ferretdb-{ferretdb_version(source_dir)}-{source_hash(source_dir)}" / BINARY_NAME


def ensure_binary(cache: Path, *, log: Log = logger.info) -> Path:
    """Build the ferretdb-sqlite wrapper into the cache once (`go build`, CGO disabled)."""
    binary = binary_path(cache)
    if binary.is_file():
        return binary
    go = require_tool("go", "build FerretDB (Go 1.24+, reaching the Go module proxy)")

    def build(tmp: Path) -> None:
        log(
            f"building FerretDB {ferretdb_version()} with Go into {binary.parent} "
            "(first run only, ~1-3 min) ..."
        )
        started = time.monotonic()
        src = tmp / "src"
        src.mkdir()
        for name in SOURCE_FILES:
            shutil.copy2(SOURCE_DIR / name, src / name)
        env = {**os.environ, "CGO_ENABLED": "0"}
        run_build_step(
            [
                go,
                "build",
                "-mod=readonly",
                "-buildvcs=false",
                "-trimpath",
                "-o",
                str(tmp / BINARY_NAME),
                ".",
            ],
            cwd=src,
            log_path=tmp / "build.log",
            what=f"go build of FerretDB {ferretdb_version()}",
            env=env,
        )
        if not (tmp / BINARY_NAME).is_file():
            raise DevstackError(f"go build finished but {tmp / BINARY_NAME} is missing")
        log(f"FerretDB binary ready in {time.monotonic() - started:.0f} s")

    build_once(binary.parent, build, log=log)
    return binary


@dataclass
class LocalFerretDB:
    uri: str
    process: ManagedProcess
    work_dir: Path


def start_ferretdb(
    binary: Path, work_dir: Path, *, timeout: float = START_TIMEOUT, log: Log = logger.info
) -> LocalFerretDB:
    """Start FerretDB with its SQLite files under `work_dir/data`; return once `ping` answers."""
    work_dir.mkdir(parents=True, exist_ok=True)
    data_dir = work_dir / "data"
    log_path = work_dir / "ferretdb.log"

    def launch(ports: list[int]) -> ManagedProcess:
        return start_process(
            "ferretdb",
            [
                str(binary),
                f"--listen-addr=127.0.0.1:{ports[0]}",
                f"--sqlite-url=file:{data_dir}/",
                "--log-level=warn",
            ],
            log_path=log_path,
            cwd=work_dir,
        )

    proc, uri, took = start_mongo_wire("ferretdb", launch, _uri, log_path, timeout, log)
    log(f"ferretdb {ferretdb_version()} ready at {uri} in {took:.1f} s (pid {proc.pid}, log {log_path})")
    return LocalFerretDB(uri, proc, work_dir)


def _uri(port: int) -> str:
    return f"mongodb://127.0.0.1:{port}/"
