"""Build cache: its location, content hashing, the fcntl build lock and atomic build-once."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path

from devstack.errors import HOW_TO_GET_SERVERS, DevstackError

logger = logging.getLogger(__name__)

Log = Callable[[str], None]


def cache_root(env: Mapping[str, str] | None = None) -> Path:
    """`$STREAMPROC_CACHE`, else `${XDG_CACHE_HOME:-~/.cache}/streamproc`."""
    env = os.environ if env is None else env
    explicit = env.get("STREAMPROC_CACHE")
    if explicit:
        return Path(explicit).expanduser().absolute()
    xdg = env.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return (base / "streamproc").absolute()


def hash_files(paths: Iterable[Path], length: int = 12) -> str:
    """Hex sha256 over (name, size, content) of each file, in the order given."""
    digest = hashlib.sha256()
    for path in paths:
        data = path.read_bytes()
        digest.update(f"{path.name}\0{len(data)}\0".encode())
        digest.update(data)
    return digest.hexdigest()[:length]


@contextlib.contextmanager
def file_lock(path: Path, *, log: Log = logger.info, what: str = "") -> Iterator[None]:
    """Exclusive flock on `path` (created if missing); logs once if it has to wait."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+b") as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log(f"waiting for another process that is building {what or path.name} ...")
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def build_once(final: Path, build: Callable[[Path], None], *, log: Log = logger.info) -> Path:
    """Return directory `final`, creating it first with `build(tmp_dir)` if it does not exist.

    The build runs under a lock next to `final` into a fresh temporary directory on the same
    file system, which is then renamed to `final`; a failed or interrupted build leaves nothing
    behind that a later run could mistake for a finished one.
    """
    if final.is_dir():
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    with file_lock(final.parent / f".{final.name}.lock", log=log, what=final.name):
        if final.is_dir():  # another process finished it while we waited
            return final
        for stale in final.parent.glob(f".{final.name}.tmp-*"):  # left by a killed build
            shutil.rmtree(stale, ignore_errors=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.tmp-", dir=final.parent))
        try:
            build(tmp)
            tmp.chmod(0o755)  # mkdtemp made it 0700
            os.rename(tmp, final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    return final


def require_tool(name: str, purpose: str) -> str:
    """Absolute path of executable `name` on PATH, or DevstackError explaining the options."""
    found = shutil.which(name)
    if found is None:
        raise DevstackError(f"`{name}` not found on PATH (needed to {purpose}).\n\n{HOW_TO_GET_SERVERS}")
    return found


def run_build_step(
    argv: list[str],
    *,
    cwd: Path,
    log_path: Path,
    what: str,
    env: Mapping[str, str] | None = None,
    timeout: float = 1200.0,
) -> None:
    """Run one build command, output to `log_path`; DevstackError with the log tail on failure."""
    started = time.monotonic()
    with open(log_path, "ab") as out:
        out.write(("$ " + " ".join(argv) + "\n").encode())
        out.flush()
        try:
            result = subprocess.run(
                argv,
                cwd=cwd,
                env=dict(env) if env is not None else None,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise DevstackError(
                f"{what} did not finish within {timeout:.0f} s\n{tail_lines(log_path)}\n\n"
                f"{HOW_TO_GET_SERVERS}"
            ) from exc
        except OSError as exc:
            raise DevstackError(f"{what} could not run {argv[0]}: {exc}\n\n{HOW_TO_GET_SERVERS}") from exc
    if result.returncode != 0:
        raise DevstackError(
            f"{what} failed (exit {result.returncode}); last lines of {log_path}:\n"
            f"{tail_lines(log_path)}\n\n{HOW_TO_GET_SERVERS}"
        )
    logger.debug("%s took %.1f s", what, time.monotonic() - started)


def tail_lines(path: Path, count: int = 60) -> str:
    """The last `count` lines of a text file ('' if it does not exist)."""
    try:
        data = path.read_bytes()
    except OSError:
        return ""
    lines = data.decode("utf-8", "replace").splitlines()
    return "\n".join(lines[-count:])
