"""Child processes in their own process group: start, stop (TERM, then KILL), registry, signals."""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from types import FrameType
from typing import IO

logger = logging.getLogger(__name__)

STOP_TIMEOUT = 10.0

_registry: dict[int, ManagedProcess] = {}
_registry_lock = threading.Lock()


class ManagedProcess:
    """A child started with `start_new_session=True`: it leads its own process group."""

    def __init__(
        self,
        name: str,
        popen: subprocess.Popen[bytes],
        log_path: Path | None,
        *,
        argv: Sequence[str] = (),
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
    ) -> None:
        self.name = name
        self.popen = popen
        self.log_path = log_path
        # How it was started (without the pdeathsig prefix), so `restart` can start it again.
        self.argv = tuple(argv)
        self.env = dict(env) if env is not None else None
        self.cwd = cwd

    @property
    def pid(self) -> int:
        return self.popen.pid

    def __repr__(self) -> str:
        return f"ManagedProcess({self.name!r}, pid={self.pid}, returncode={self.popen.returncode})"

    def poll(self) -> int | None:
        return self.popen.poll()

    def kill(self) -> int | None:
        """SIGKILL the whole group at once (a crash, not a shutdown) and reap it."""
        _signal_group(self.popen.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(timeout=5.0)
        deadline = time.monotonic() + 5.0
        while group_alive(self.popen.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        with _registry_lock:
            _registry.pop(self.popen.pid, None)
        return self.popen.returncode

    def stop(self, timeout: float = STOP_TIMEOUT) -> int | None:
        """SIGTERM the whole group, wait up to `timeout` s for it to empty, then SIGKILL it."""
        pgid = self.popen.pid
        if self.popen.poll() is None or group_alive(pgid):
            _signal_group(pgid, signal.SIGTERM)
            deadline = time.monotonic() + timeout
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.popen.wait(timeout=max(0.0, deadline - time.monotonic()))
            while group_alive(pgid) and time.monotonic() < deadline:
                time.sleep(0.05)
            if self.popen.poll() is None or group_alive(pgid):
                logger.warning("%s (pid %d) ignored SIGTERM for %.1f s; SIGKILL", self.name, pgid, timeout)
                _signal_group(pgid, signal.SIGKILL)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self.popen.wait(timeout=5.0)
                deadline = time.monotonic() + 5.0
                while group_alive(pgid) and time.monotonic() < deadline:
                    time.sleep(0.05)
        # only forgotten once really gone: if this was interrupted, the atexit hook retries
        with _registry_lock:
            _registry.pop(pgid, None)
        return self.popen.returncode


def _signal_group(pgid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signum)


def group_alive(pgid: int) -> bool:
    """True while any non-zombie process is left in process group `pgid`."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    proc = Path("/proc")
    if not proc.is_dir():
        return True
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        stat = _read_stat(int(entry.name))
        if stat is not None and stat[1] == pgid and stat[0] != "Z":
            return True
    return False


def _read_stat(pid: int) -> tuple[str, int] | None:
    """(state, pgid) from /proc/PID/stat, None if the process is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = raw[raw.rfind(")") + 2 :].split()  # after "pid (comm) "
    return fields[0], int(fields[2])


def pid_exists(pid: int) -> bool:
    """True if `pid` is a live (non-zombie) process."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    stat = _read_stat(pid)
    if stat is None:  # gone since os.kill, or no procfs to tell zombies apart
        return not Path("/proc").is_dir()
    return stat[0] != "Z"


def _pdeathsig_prefix() -> list[str]:
    """`setpriv --pdeathsig TERM --` so a child gets SIGTERM if we die by SIGKILL (Linux only).

    The kernel sends it when the *thread* that forked the child exits, so it is only used for
    children started from the main thread.
    """
    if not sys.platform.startswith("linux") or threading.current_thread() is not threading.main_thread():
        return []
    setpriv = shutil.which("setpriv")
    return [setpriv, "--pdeathsig", "TERM", "--"] if setpriv else []


def start_process(
    name: str,
    argv: Sequence[str],
    *,
    log_path: Path | None = None,
    pipe_output: bool = False,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> ManagedProcess:
    """Start `argv` in a new session; output to `log_path` (appended), a pipe, or inherited."""
    stdout: int | IO[bytes] | None = None
    handle: IO[bytes] | None = None
    if log_path is not None:
        handle = open(log_path, "ab")  # noqa: SIM115 - closed below, the child keeps its copy
        stdout = handle
    elif pipe_output:
        stdout = subprocess.PIPE
    try:
        popen = subprocess.Popen(
            [*_pdeathsig_prefix(), *argv],
            stdin=subprocess.DEVNULL,
            stdout=stdout,
            stderr=subprocess.STDOUT if stdout is not None else None,
            env=dict(env) if env is not None else None,
            cwd=cwd,
            start_new_session=True,
        )
    finally:
        if handle is not None:
            handle.close()
    proc = ManagedProcess(name, popen, log_path, argv=argv, env=env, cwd=cwd)
    with _registry_lock:
        _registry[popen.pid] = proc
    logger.debug("started %s pid=%d: %s", name, popen.pid, " ".join(argv))
    return proc


def restart(proc: ManagedProcess) -> ManagedProcess:
    """Start `proc`'s command again (same argv, environment, cwd and log, appended to), once it
    has exited: a server brought back on its old ports and data after a stop or a kill."""
    if proc.poll() is None:
        raise RuntimeError(f"{proc.name} (pid {proc.pid}) is still running; stop or kill it first")
    if not proc.argv:
        raise RuntimeError(f"{proc.name} was not started by start_process: no command to restart")
    return start_process(proc.name, proc.argv, log_path=proc.log_path, env=proc.env, cwd=proc.cwd)


def running() -> list[ManagedProcess]:
    """Processes started here and not stopped yet (oldest first)."""
    with _registry_lock:
        return list(_registry.values())


def stop_all(procs: Sequence[ManagedProcess] | None = None, timeout: float = STOP_TIMEOUT) -> None:
    """Stop `procs` (default: every registered process), newest first."""
    for proc in reversed(list(procs) if procs is not None else running()):
        try:
            proc.stop(timeout)
        except Exception:  # keep stopping the others
            logger.exception("could not stop %s (pid %d)", proc.name, proc.pid)


def _stop_leftovers_at_exit() -> None:
    leftovers = running()
    if leftovers:
        logger.warning("stopping processes left running at exit: %s", leftovers)
        stop_all(leftovers)


atexit.register(_stop_leftovers_at_exit)


_termination_requested = False


def _raise_system_exit(signum: int, frame: FrameType | None) -> None:
    """First SIGTERM/SIGHUP: SystemExit; repeats are ignored so they cannot cut cleanup short."""
    global _termination_requested
    if _termination_requested:
        return
    _termination_requested = True
    raise SystemExit(128 + signum)


@contextlib.contextmanager
def exit_on_termination() -> Iterator[None]:
    """Turn SIGTERM/SIGHUP into SystemExit while inside, so `finally` blocks and atexit run.

    Only signals whose handler is still the default are taken over (someone else's handler, e.g.
    an asyncio loop's or the CLI's, is left alone), and only from the main thread. SIGINT already
    raises KeyboardInterrupt by default.
    """
    installed: list[signal.Signals] = []
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGTERM, signal.SIGHUP):
            if signal.getsignal(signum) is signal.SIG_DFL:
                signal.signal(signum, _raise_system_exit)
                installed.append(signum)
    try:
        yield
    finally:
        for signum in installed:
            if signal.getsignal(signum) is _raise_system_exit:  # not replaced meanwhile
                signal.signal(signum, signal.SIG_DFL)


def free_ports(count: int = 1, host: str = "127.0.0.1") -> list[int]:
    """`count` distinct ports that were free on `host` a moment ago."""
    sockets: list[socket.socket] = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind((host, 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def tcp_open(host: str, port: int, timeout: float = 0.5) -> bool:
    """True if a TCP connection to host:port succeeds."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False
