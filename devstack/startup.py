"""Starting a server on free loopback ports: the one port-clash retry and the readiness waits."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from devstack.cache import Log, tail_lines
from devstack.errors import DevstackError
from devstack.procs import ManagedProcess, free_ports

logger = logging.getLogger(__name__)

PORT_ATTEMPTS = 3
# what Java (BindException), Go and Rust (os error 98) print when a port is taken
_CLASH_MARKERS = (b"address already in use", b"bindexception")


class PortClash(Exception):
    """A server exited at startup because a port `free_ports` picked was taken meanwhile."""


def check_still_running(name: str, proc: ManagedProcess, log_path: Path) -> None:
    """Nothing if `proc` runs; PortClash if it exited over a taken port; else DevstackError."""
    code = proc.poll()
    if code is None:
        return
    try:
        text = log_path.read_bytes().lower()
    except OSError:
        text = b""
    if any(marker in text for marker in _CLASH_MARKERS):
        raise PortClash(name)
    raise DevstackError(
        f"{name} exited during startup (exit {code}); last lines of {log_path}:\n{tail_lines(log_path)}"
    )


def stop_group(group: Sequence[ManagedProcess]) -> None:
    """Stop every member at once (each TERM, then KILL as `ManagedProcess.stop` does): members
    stopped one by one can wait on each other, as Kafka nodes wait for the quorum the earlier
    ones took away."""
    threads = [threading.Thread(target=proc.stop, name=f"stop-{proc.name}", daemon=True) for proc in group]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def start_on_free_ports(
    name: str,
    *,
    ports: int,
    log_path: Path,
    launch: Callable[[list[int]], ManagedProcess],
    wait_ready: Callable[[ManagedProcess, list[int]], None],
    log: Log = logger.info,
    attempts: int = PORT_ATTEMPTS,
) -> tuple[ManagedProcess, list[int]]:
    """Pick `ports` free ports, `launch` the server on them and `wait_ready` for it.

    Another process can take a port between `free_ports` and the server's bind; `wait_ready`
    then raises PortClash (see `check_still_running`) and the server is started again on new
    ports. On any other failure the process is stopped and the error raised. An earlier
    attempt's `log_path` is kept as `<stem>.attempt<N><suffix>`, so a clash is only ever read
    from the attempt that had it.
    """
    group, chosen = start_group_on_free_ports(
        name,
        ports=ports,
        log_paths=[log_path],
        launch=lambda chosen: [launch(chosen)],
        wait_ready=lambda group, chosen: wait_ready(group[0], chosen),
        log=log,
        attempts=attempts,
    )
    return group[0], chosen


def start_group_on_free_ports(
    name: str,
    *,
    ports: int,
    log_paths: Sequence[Path],
    launch: Callable[[list[int]], list[ManagedProcess]],
    wait_ready: Callable[[list[ManagedProcess], list[int]], None],
    log: Log = logger.info,
    attempts: int = PORT_ATTEMPTS,
) -> tuple[list[ManagedProcess], list[int]]:
    """`start_on_free_ports` for servers that only come up together (a Kafka cluster's nodes
    wait for their quorum): one clash in any member restarts the whole group on new ports.

    `launch` starts every member (stopping those it started if it fails part-way); each
    member's log in `log_paths` is kept per attempt as above.
    """
    for attempt in range(1, attempts + 1):
        for log_path in log_paths:
            if log_path.exists():
                log_path.rename(log_path.with_name(f"{log_path.stem}.attempt{attempt - 1}{log_path.suffix}"))
        chosen = free_ports(ports)
        group = launch(chosen)
        try:
            wait_ready(group, chosen)
        except PortClash:
            stop_group(group)
            taken = "/".join(str(port) for port in chosen)
            log(f"{name}: port {taken} was taken meanwhile, retrying ({attempt})")
            continue
        except BaseException:
            stop_group(group)
            raise
        return group, chosen
    raise DevstackError(f"{name}: no free port after {attempts} attempts; see {log_paths[0].parent}")


def wait_for_ping(name: str, proc: ManagedProcess, uri: str, log_path: Path, timeout: float) -> None:
    """Return once the MongoDB-wire server at `uri` answers `ping`; fail if `proc` exits."""
    from pymongo import MongoClient
    from pymongo.errors import PyMongoError

    deadline = time.monotonic() + timeout
    client: MongoClient[dict[str, object]] = MongoClient(
        uri, serverSelectionTimeoutMS=500, connectTimeoutMS=500, directConnection=True
    )
    try:
        while True:
            check_still_running(name, proc, log_path)
            try:
                client.admin.command("ping")
                return
            except PyMongoError as exc:
                if time.monotonic() > deadline:
                    raise DevstackError(
                        f"{name} at {uri} did not answer ping within {timeout:.0f} s ({exc}); "
                        f"last lines of {log_path}:\n{tail_lines(log_path)}"
                    ) from exc
            time.sleep(0.1)
    finally:
        client.close()


def start_mongo_wire(
    name: str,
    launch: Callable[[list[int]], ManagedProcess],
    uri_of: Callable[[int], str],
    log_path: Path,
    timeout: float,
    log: Log,
) -> tuple[ManagedProcess, str, float]:
    """Start a MongoDB-wire server on a free port (a clash is retried) and wait for `ping`:
    the process, its URI, and how long it took."""
    started = time.monotonic()

    def wait_ready(proc: ManagedProcess, ports: list[int]) -> None:
        wait_for_ping(name, proc, uri_of(ports[0]), log_path, timeout)

    proc, (port,) = start_on_free_ports(
        name, ports=1, log_path=log_path, launch=launch, wait_ready=wait_ready, log=log
    )
    return proc, uri_of(port), time.monotonic() - started
