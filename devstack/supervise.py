"""Supervision for the CLI: stop-signal handling, named children with prefixed output, ready URL."""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from types import FrameType
from typing import TextIO

from devstack import procs
from devstack.procs import ManagedProcess

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class StopRequested(BaseException):
    """Raised in the main thread by the first SIGINT/SIGTERM/SIGHUP."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


class StopState:
    """After the first stop signal (or once `stopping` is set) further ones are ignored."""

    def __init__(self) -> None:
        self.stopping = False

    def handler(self, signum: int, frame: FrameType | None) -> None:
        if self.stopping:
            return
        self.stopping = True
        raise StopRequested(signum)


@contextlib.contextmanager
def stop_signals() -> Iterator[StopState]:
    """Make the first stop signal raise StopRequested; restore the old handlers on exit."""
    state = StopState()
    previous = {signum: signal.signal(signum, state.handler) for signum in STOP_SIGNALS}
    try:
        yield state
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


@dataclass(frozen=True)
class ProcSpec:
    name: str
    argv: list[str]


def parse_proc_spec(text: str) -> ProcSpec:
    """`NAME=COMMAND` -> ProcSpec(NAME, shlex.split(COMMAND))."""
    name, sep, command = text.partition("=")
    name = name.strip()
    if not sep or not name or not name.replace("-", "").replace("_", "").isalnum():
        raise ValueError(f"--proc {text!r}: expected NAME=COMMAND with NAME made of letters, digits, - or _")
    argv = shlex.split(command)
    if not argv:
        raise ValueError(f"--proc {text!r}: empty command")
    if argv[0] in ("python", "python3"):  # the interpreter (venv) devstack runs in, not PATH's
        argv[0] = sys.executable
    return ProcSpec(name, argv)


class Printer:
    """Thread-safe line output, `name | line` for children."""

    def __init__(self, out: TextIO, names: Sequence[str]) -> None:
        self.out = out
        self.width = max((len(name) for name in names), default=0)
        self.lock = threading.Lock()

    def raw(self, text: str) -> None:
        with self.lock:
            self.out.write(text + "\n")
            self.out.flush()

    def line(self, name: str, text: str) -> None:
        self.raw(f"{name:<{self.width}} | {text}")


def _pump(child: ManagedProcess, printer: Printer) -> None:
    stream = child.popen.stdout
    if stream is None:
        return
    with stream:
        for raw in iter(stream.readline, b""):
            printer.line(child.name, raw.decode("utf-8", "replace").rstrip("\r\n"))


def _poll_ready(url: str, printer: Printer, stop: threading.Event, interval: float = 0.5) -> None:
    while not stop.is_set():
        try:
            with urllib.request.urlopen(url, timeout=2.0) as response:  # noqa: S310 - local URL
                if response.status == 200:
                    printer.raw(f"ready: {url}")
                    return
        except (OSError, ValueError):  # URLError/HTTPError are OSErrors; not up yet
            pass
        stop.wait(interval)


def _exit_code(returncode: int) -> int:
    if returncode > 0:
        return returncode
    return 128 - returncode if returncode < 0 else 1  # killed by a signal / exited "successfully"


def supervise(
    specs: Sequence[ProcSpec],
    env: Mapping[str, str],
    state: StopState,
    *,
    ready_url: str | None = None,
    watch: Sequence[ManagedProcess] = (),
    out: TextIO = sys.stdout,
) -> int:
    """Run the children until one of them (or a watched server) exits; stop the rest.

    Returns the exit code to use when something exited; StopRequested propagates on a signal
    after the children have been stopped.
    """
    printer = Printer(out, [spec.name for spec in specs] + ["devstack"])
    child_env = {**os.environ, **env}
    child_env.setdefault("PYTHONUNBUFFERED", "1")
    children: list[ManagedProcess] = []
    pumps: list[threading.Thread] = []
    stop = threading.Event()
    try:
        for spec in specs:
            child = procs.start_process(spec.name, spec.argv, pipe_output=True, env=child_env)
            children.append(child)
            printer.line("devstack", f"started {spec.name} (pid {child.pid}): {shlex.join(spec.argv)}")
            pump = threading.Thread(
                target=_pump, args=(child, printer), name=f"pump-{spec.name}", daemon=True
            )
            pump.start()
            pumps.append(pump)
        if ready_url:
            threading.Thread(target=_poll_ready, args=(ready_url, printer, stop), daemon=True).start()
        while True:
            for proc in [*children, *watch]:
                returncode = proc.poll()
                if returncode is not None:
                    state.stopping = True
                    printer.line(
                        "devstack",
                        f"{proc.name} exited with code {returncode}; stopping everything",
                    )
                    return _exit_code(returncode)
            time.sleep(0.2)
    finally:
        state.stopping = True
        stop.set()
        procs.stop_all(children)
        for pump in pumps:
            pump.join(timeout=2.0)
