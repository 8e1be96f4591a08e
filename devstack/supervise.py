"""Supervision for the CLI: stop signals, named children with prefixed output, restarts, ready URLs."""

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
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from types import FrameType
from typing import TextIO

from devstack import procs
from devstack.procs import ManagedProcess
from devstack.restart import Backoff, RestartPolicy

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
    env: dict[str, str] = field(default_factory=dict)  # on top of the servers' variables


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


def _poll_ready(urls: Sequence[str], printer: Printer, stop: threading.Event, interval: float = 0.5) -> None:
    """Print `ready: URL` for each URL once it answers 200, in order (the public one comes last)."""
    for url in urls:
        while not stop.is_set():
            try:
                with urllib.request.urlopen(url, timeout=2.0) as response:  # noqa: S310 - local URL
                    if response.status == 200:
                        printer.raw(f"ready: {url}")
                        break
            except (OSError, ValueError):  # URLError/HTTPError are OSErrors; not up yet
                pass
            stop.wait(interval)


def _exit_code(returncode: int) -> int:
    if returncode > 0:
        return returncode
    return 128 - returncode if returncode < 0 else 1  # killed by a signal / exited "successfully"


@dataclass
class _Child:
    """One named child across its restarts."""

    spec: ProcSpec
    backoff: Backoff
    proc: ManagedProcess | None = None
    started_at: float = 0.0
    restart_at: float | None = None  # set while it waits out its backoff
    starts: int = 0


class Supervisor:
    """Starts the children, restarts the ones that exit (with backoff), stops them all at the end."""

    def __init__(
        self,
        specs: Sequence[ProcSpec],
        env: Mapping[str, str],
        printer: Printer,
        restart: RestartPolicy | None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.env = {**os.environ, **env}
        self.env.setdefault("PYTHONUNBUFFERED", "1")
        self.printer = printer
        self.restart = restart
        self.clock = clock
        self.children = [_Child(spec, Backoff(restart or RestartPolicy())) for spec in specs]
        self.pumps: list[threading.Thread] = []

    def start(self, child: _Child) -> None:
        spec = child.spec
        child.restart_at = None
        child.proc = procs.start_process(spec.name, spec.argv, pipe_output=True, env={**self.env, **spec.env})
        child.started_at = self.clock()
        child.starts += 1
        again = f" (restart {child.starts - 1})" if child.starts > 1 else ""
        extra = "".join(f"{key}={value} " for key, value in spec.env.items())
        self.printer.line(
            "devstack", f"started {spec.name}{again} (pid {child.proc.pid}): {extra}{shlex.join(spec.argv)}"
        )
        pump = threading.Thread(
            target=_pump, args=(child.proc, self.printer), name=f"pump-{spec.name}", daemon=True
        )
        pump.start()
        self.pumps = [*(p for p in self.pumps if p.is_alive()), pump]

    def check(self, child: _Child) -> int | None:
        """Restart `child` if its backoff is over; schedule a restart if it exited.

        Returns the exit code when it exited and restarting is off (the caller stops everything).
        """
        now = self.clock()
        if child.restart_at is not None:
            if now >= child.restart_at:
                self.start(child)
            return None
        assert child.proc is not None
        returncode = child.proc.poll()
        if returncode is None:
            return None
        name = child.spec.name
        if self.restart is None:
            self.printer.line("devstack", f"{name} exited with code {returncode}; stopping everything")
            return returncode
        uptime = now - child.started_at
        delay = child.backoff.crashed(uptime)
        child.restart_at = now + delay
        self.printer.line(
            "devstack",
            f"{name} exited with code {returncode} after {uptime:.1f} s; "
            f"restarting in {delay:g} s (crash {child.backoff.crashes} in a row)",
        )
        child.proc.stop(timeout=5.0)  # whatever it left in its process group goes too
        return None

    def running(self) -> list[ManagedProcess]:
        return [c.proc for c in self.children if c.proc is not None and c.restart_at is None]

    def close(self) -> None:
        procs.stop_all(self.running())
        for pump in self.pumps:
            pump.join(timeout=2.0)


def supervise(
    specs: Sequence[ProcSpec],
    env: Mapping[str, str],
    state: StopState,
    *,
    ready_urls: Sequence[str] = (),
    watch: Sequence[ManagedProcess] = (),
    restart: RestartPolicy | None = None,
    out: TextIO = sys.stdout,
) -> int:
    """Run the children until a watched server exits (or, without `restart`, any child does).

    With a `restart` policy a child that exits is started again after its backoff, for ever.
    Returns the exit code to use when something exited for good; StopRequested propagates on a
    signal after the children have been stopped (the caller then stops the servers).
    """
    printer = Printer(out, [spec.name for spec in specs] + ["devstack"])
    supervisor = Supervisor(specs, env, printer, restart)
    before = set(procs.running())
    stop = threading.Event()
    try:
        for child in supervisor.children:
            supervisor.start(child)
        if ready_urls:
            threading.Thread(target=_poll_ready, args=(ready_urls, printer, stop), daemon=True).start()
        while True:
            for child in supervisor.children:
                returncode = supervisor.check(child)
                if returncode is not None:
                    state.stopping = True
                    return _exit_code(returncode)
            for server in watch:
                returncode = server.poll()
                if returncode is not None:  # a server is not ours to restart: stop everything
                    state.stopping = True
                    printer.line(
                        "devstack", f"{server.name} exited with code {returncode}; stopping everything"
                    )
                    return _exit_code(returncode)
            time.sleep(0.2)
    finally:
        state.stopping = True
        stop.set()
        supervisor.close()
        # a child whose start a signal interrupted is registered but not in the list: stop it
        # too, so every child is gone before the servers are
        procs.stop_all([p for p in procs.running() if p not in before and p not in watch])
