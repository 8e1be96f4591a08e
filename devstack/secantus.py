"""Local SecantusDB server (`secantusd-rs`: MongoDB wire protocol on WiredTiger), built with cargo."""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from devstack.cache import Log, build_once, require_tool, run_build_step
from devstack.errors import DevstackError
from devstack.procs import ManagedProcess, restart, start_process
from devstack.startup import start_mongo_wire, wait_for_ping

logger = logging.getLogger(__name__)

CRATE = "secantus-mdb"
# A beta that changes often: pinned, and only ever changed on purpose (with the store tests).
VERSION = "0.5.3-beta.196"
BINARY_NAME = "secantusd-rs"
START_TIMEOUT = 60.0
BUILD_TIMEOUT = 3600.0  # a cold build compiles WiredTiger and ~210 crates: 5.5 min on 2 cores
CACHE_MB_ENV = "DEVSTACK_MONGO_CACHE_MB"
# secantusd-rs defaults to a 4 GB WiredTiger cache. 1 GB holds the 1M-document history
# benchmark's working set: at 256 MB its heavy-user page took 178 ms p50 instead of 39 ms.
DEFAULT_CACHE_MB = 1024
# Passed with --config so that no ./secantusd.toml, ~/.secantus/ or /etc/secantus/ file the
# machine happens to have changes the server under our tests (--config disables discovery).
CONFIG_TEXT = "# devstack: empty on purpose; every setting is a command-line flag\n"
# WiredTiger allocates each log file in full: 128 MB by default, the size of an empty store.
LOG_FILE_MAX = "32MB"


def cargo_install_argv(cargo: str, root: Path) -> list[str]:
    """The build: `cargo install` of the pinned crate into `root`, compiled in `root/target`.

    `--locked` builds with the crate's own Cargo.lock; `--ignore-rust-version` because the crate
    declares rust-version 1.98 while it builds fine with older stable toolchains.
    """
    return [
        cargo,
        "install",
        CRATE,
        "--version",
        VERSION,
        "--locked",
        "--ignore-rust-version",
        "--root",
        str(root),
        "--target-dir",
        str(root / "target"),
    ]


def recipe_hash(length: int = 10) -> str:
    """Hash of the build command (tool and paths left out): a new recipe means a new entry."""
    recipe = " ".join(cargo_install_argv("cargo", Path("ROOT")))
    return hashlib.sha256(recipe.encode()).hexdigest()[:length]


def binary_path(cache: Path) -> Path:
    return cache / f"secantus-{VERSION}-{recipe_hash()}" / BINARY_NAME


def ensure_binary(cache: Path, *, log: Log = logger.info) -> Path:
    """Build secantusd-rs into the cache once; only the binary is kept (the build dir is ~600 MB)."""
    binary = binary_path(cache)
    if binary.is_file():
        return binary
    purpose = "build SecantusDB's secantusd-rs (a Rust toolchain, CMake and a C compiler)"
    cargo = require_tool("cargo", purpose + ", reaching crates.io")
    require_tool("cmake", purpose)  # WiredTiger is compiled from source by the -sys crate

    def build(tmp: Path) -> None:
        log(
            f"building SecantusDB {VERSION} ({BINARY_NAME}) with cargo into {binary.parent} "
            "(first run only, ~6 min on 2 cores) ..."
        )
        started = time.monotonic()
        try:
            run_build_step(
                cargo_install_argv(cargo, tmp),
                cwd=tmp,
                log_path=tmp / "build.log",
                what=f"cargo install {CRATE} {VERSION}",
                env={**os.environ, "CARGO_TERM_COLOR": "never"},
                timeout=BUILD_TIMEOUT,
            )
        finally:
            shutil.rmtree(tmp / "target", ignore_errors=True)
        built = tmp / "bin" / BINARY_NAME
        if not built.is_file():
            raise DevstackError(f"cargo install finished but {built} is missing")
        built.rename(tmp / BINARY_NAME)
        shutil.rmtree(tmp / "bin")
        for name in (".crates.toml", ".crates2.json"):  # cargo's install bookkeeping
            (tmp / name).unlink(missing_ok=True)
        log(f"SecantusDB binary ready in {time.monotonic() - started:.0f} s")

    build_once(binary.parent, build, log=log)
    return binary


def cache_mb(env: Mapping[str, str] | None = None) -> int:
    """The WiredTiger cache bound in MB: DEVSTACK_MONGO_CACHE_MB, default 1024."""
    env = os.environ if env is None else env
    raw = env.get(CACHE_MB_ENV, "").strip()
    if not raw:
        return DEFAULT_CACHE_MB
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        raise DevstackError(f"{CACHE_MB_ENV}={raw!r}: expected a whole number of MB, at least 1")
    return value


def server_argv(binary: Path, port: int, data_dir: Path, config: Path, cache_size_mb: int) -> list[str]:
    """secantusd-rs on 127.0.0.1:`port`, WiredTiger home `data_dir`, a bounded cache."""
    return [
        str(binary),
        "--config",
        str(config),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--storage-path",
        str(data_dir),
        "--cache-size",
        f"{cache_size_mb}M",
        "--log-file-max",
        LOG_FILE_MAX,
        "--log-level",
        "WARNING",
    ]


def mongodb_uri(port: int) -> str:
    # The server advertises a one-node replica set; directConnection keeps drivers on this
    # address instead of discovering members by the name the server reports.
    return f"mongodb://127.0.0.1:{port}/?directConnection=true"


@dataclass
class LocalSecantus:
    uri: str
    process: ManagedProcess
    work_dir: Path

    def stop(self) -> None:
        """SIGTERM the server (SIGKILL if it takes too long); its data dir stays."""
        self.process.stop()

    def start_again(self, *, timeout: float = START_TIMEOUT) -> ManagedProcess:
        """Start the stopped server again on its port and data dir; return once `ping` answers."""
        self.process = restart(self.process)
        assert self.process.log_path is not None  # start_secantus always gives it a log
        wait_for_ping("secantus", self.process, self.uri, self.process.log_path, timeout)
        return self.process


def start_secantus(
    binary: Path, work_dir: Path, *, timeout: float = START_TIMEOUT, log: Log = logger.info
) -> LocalSecantus:
    """Start secantusd-rs with its data under `work_dir/data`; return once `ping` answers."""
    work_dir.mkdir(parents=True, exist_ok=True)
    config = work_dir / "secantusd.toml"
    config.write_text(CONFIG_TEXT)
    log_path = work_dir / "secantus.log"
    size = cache_mb()

    def launch(ports: list[int]) -> ManagedProcess:
        argv = server_argv(binary, ports[0], work_dir / "data", config, size)
        return start_process("secantus", argv, log_path=log_path, cwd=work_dir)

    proc, uri, took = start_mongo_wire("secantus", launch, mongodb_uri, log_path, timeout, log)
    log(
        f"secantus {VERSION} ready at {uri} in {took:.1f} s (pid {proc.pid}, cache {size} MB, log {log_path})"
    )
    return LocalSecantus(uri, proc, work_dir)
