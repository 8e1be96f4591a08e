"""Unit tests for bringing a devstack server back after a stop or a kill: the same command,
environment, working dir and log (`procs.restart`), and one Kafka node of a group restarted on
its own port (`LocalKafka.restart_node`), with stand-in processes instead of Java."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

from devstack import kafka, procs
from devstack.errors import DevstackError

pytestmark = pytest.mark.unit

# A stand-in node: binds its port, says what Kafka says once it serves clients, and waits.
FAKE_NODE = (
    "import os, socket, sys, time; s = socket.socket(); "
    "s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(('127.0.0.1', int(sys.argv[1]))); "
    "s.listen(); print('pid', os.getpid(), os.environ['NODE_TAG'], os.getcwd(), flush=True); "
    "print('Kafka Server started', flush=True); time.sleep(60)"
)


def _start_node(name: str, port: int, work: Path) -> procs.ManagedProcess:
    work.mkdir(parents=True, exist_ok=True)
    return procs.start_process(
        name,
        [sys.executable, "-c", FAKE_NODE, str(port)],
        log_path=work / "kafka.log",
        env={"NODE_TAG": f"tag-{name}", "PATH": "/usr/bin:/bin"},
        cwd=work,
    )


def _wait_for_starts(log: Path, count: int) -> None:
    deadline = time.monotonic() + 15
    while log.read_text().count("Kafka Server started") < count:
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(0.05)


def test_restart_starts_the_same_command_again(tmp_path: Path) -> None:
    [port] = procs.free_ports(1)
    first = _start_node("node", port, tmp_path)
    try:
        _wait_for_starts(tmp_path / "kafka.log", 1)
        with pytest.raises(RuntimeError, match="still running"):
            procs.restart(first)
        first.kill()
        assert first.poll() is not None and first not in procs.running()
        second = procs.restart(first)
        try:
            assert second.pid != first.pid and second in procs.running()
            assert (second.argv, second.env, second.cwd) == (first.argv, first.env, first.cwd)
            assert second.log_path == first.log_path
            _wait_for_starts(tmp_path / "kafka.log", 2)
        finally:
            second.stop()
    finally:
        first.stop()
    lines = (tmp_path / "kafka.log").read_text().splitlines()
    pids = [line.split()[1] for line in lines if line.startswith("pid ")]
    assert pids == [str(first.pid), str(second.pid)]  # one log, appended to
    assert all(f"tag-node {tmp_path}" in line for line in lines if line.startswith("pid "))


def test_a_process_not_started_here_cannot_be_restarted() -> None:
    import subprocess

    popen = subprocess.Popen([sys.executable, "-c", "pass"])
    popen.wait()
    with pytest.raises(RuntimeError, match="no command"):
        procs.restart(procs.ManagedProcess("foreign", popen, None))


def test_one_kafka_node_is_killed_and_restarted_on_its_port(tmp_path: Path) -> None:
    ports = procs.free_ports(3)
    nodes = [_start_node(f"kafka-{i}", port, tmp_path / f"node{i}") for i, port in enumerate(ports, 1)]
    cluster = kafka.LocalKafka(",".join(f"127.0.0.1:{p}" for p in ports), nodes, tmp_path)
    try:
        old = cluster.node(2)
        cluster.kill_node(2)
        assert old.poll() is not None
        assert [p.poll() is None for p in cluster.processes] == [True, False, True]
        new = cluster.restart_node(2, timeout=15)
        assert cluster.node(2) is new and new.pid != old.pid and new.poll() is None
        assert procs.tcp_open("127.0.0.1", ports[1])
        with pytest.raises(DevstackError, match="no kafka node 4"):
            cluster.node(4)
    finally:
        cluster.stop()


def test_a_node_that_dies_on_restart_is_reported(tmp_path: Path) -> None:
    ports = procs.free_ports(1)
    node = procs.start_process(
        "kafka-1",
        [sys.executable, "-c", "import sys; print('no', flush=True); sys.exit(3)"],
        log_path=tmp_path / "kafka.log",
        cwd=tmp_path,
    )
    node.popen.wait()
    cluster = kafka.LocalKafka(f"127.0.0.1:{ports[0]}", [node], tmp_path)
    try:
        with pytest.raises(DevstackError, match="exited"):
            cluster.restart_node(1, timeout=15)
    finally:
        cluster.stop()
        node.stop()
