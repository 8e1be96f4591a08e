"""Unit tests for the devstack Kafka cluster: rendered node properties, the broker count, the env
it hands on, and starting a group of processes together on free ports."""

from __future__ import annotations

import socket
import sys
import time
from pathlib import Path

import pytest

import devstack
from devstack import kafka, procs, resolve, startup

pytestmark = pytest.mark.unit

BINDER = (
    "import socket, sys, time; s = socket.socket(); s.bind(('127.0.0.1', int(sys.argv[1]))); "
    "s.listen(); print('listening', flush=True); time.sleep(60)"
)


def _props(text: str) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in text.splitlines() if line and not line.startswith("#"))
    return {key: value for key, value in pairs}


def test_cluster_node_properties(tmp_path: Path) -> None:
    voters = "1@127.0.0.1:2001,2@127.0.0.1:2002,3@127.0.0.1:2003"
    props = _props(
        kafka.render_server_properties(1002, 2002, tmp_path / "d2", node_id=2, voters=voters, brokers=3)
    )
    assert props["node.id"] == "2"
    assert props["process.roles"] == "broker,controller"
    assert props["controller.quorum.voters"] == voters
    assert props["listeners"] == "PLAINTEXT://127.0.0.1:1002,CONTROLLER://127.0.0.1:2002"
    assert props["advertised.listeners"] == "PLAINTEXT://127.0.0.1:1002"
    assert props["log.dirs"] == str(tmp_path / "d2")
    for key, value in {
        "default.replication.factor": "3",
        "min.insync.replicas": "2",
        "offsets.topic.replication.factor": "3",
        "transaction.state.log.replication.factor": "3",
        "transaction.state.log.min.isr": "2",
    }.items():
        assert props[key] == value, key


def test_single_node_properties_keep_one_replica(tmp_path: Path) -> None:
    props = _props(kafka.render_server_properties(1001, 2001, tmp_path))
    assert props["node.id"] == "1" and props["controller.quorum.voters"] == "1@127.0.0.1:2001"
    for key in ("default.replication.factor", "min.insync.replicas", "transaction.state.log.min.isr"):
        assert props[key] == "1", key


def test_broker_count_from_the_environment() -> None:
    assert kafka.broker_count({}) == 1
    assert kafka.broker_count({"DEVSTACK_KAFKA_BROKERS": " 3 "}) == 3
    for bad in ("0", "x", "-1", "6", "2.5"):
        with pytest.raises(devstack.DevstackError, match="DEVSTACK_KAFKA_BROKERS"):
            kafka.broker_count({"DEVSTACK_KAFKA_BROKERS": bad})
    assert [kafka.replication_factor(n) for n in (1, 2, 3, 5)] == [1, 2, 3, 3]


def test_a_cluster_hands_its_replication_factor_to_children() -> None:
    origin = {"kafka": "local", "mongodb": "local"}
    one = devstack.Services("127.0.0.1:1", "mongodb://m/", origin)
    assert "TOPIC_REPLICATION_FACTOR" not in one.env()
    three = devstack.Services("127.0.0.1:1,127.0.0.1:2,127.0.0.1:3", "mongodb://m/", origin, 3)
    assert three.env()["TOPIC_REPLICATION_FACTOR"] == "3"


def test_provide_services_counts_brokers_only_for_local_kafka(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KAFKA_BOOTSTRAP_SERVERS", raising=False)
    monkeypatch.setenv("MONGODB_URI", "mongodb://m:1/")
    monkeypatch.setenv("DEVSTACK_BACKEND", "local")
    monkeypatch.setenv("DEVSTACK_KAFKA_BROKERS", "3")
    monkeypatch.setenv("DEVSTACK_KEEP", "")
    local = resolve.Backends(
        docker_available=lambda: False,
        builds=lambda names, log=None: {name: Path("/nonexistent") for name in names},
        start_local=lambda built, work, stack, log: {"kafka": "127.0.0.1:1,127.0.0.1:2,127.0.0.1:3"},
    )
    with devstack.provide_services(backends=local) as services:
        assert services.kafka_brokers == 3
        assert services.env()["TOPIC_REPLICATION_FACTOR"] == "3"
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "elsewhere:9092")
    messages: list[str] = []
    with devstack.provide_services(backends=local, log=messages.append) as services:
        assert services.kafka_brokers == 1 and "TOPIC_REPLICATION_FACTOR" not in services.env()
    assert any("DEVSTACK_KAFKA_BROKERS=3 is for local Kafka processes only" in m for m in messages)


def _wait_all_listening(group: list[procs.ManagedProcess], log_paths: list[Path]) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        for proc, log_path in zip(group, log_paths, strict=True):
            startup.check_still_running(proc.name, proc, log_path)
        if all(b"listening" in path.read_bytes() for path in log_paths):
            return
        time.sleep(0.05)
    raise AssertionError("binders never listened")


def test_a_clash_in_one_member_restarts_the_whole_group(tmp_path: Path) -> None:
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    log_paths = [tmp_path / "m1.log", tmp_path / "m2.log"]
    launches: list[list[procs.ManagedProcess]] = []

    def launch(ports: list[int]) -> list[procs.ManagedProcess]:
        # the second member of the first attempt loses its port to someone else
        second = taken.getsockname()[1] if not launches else ports[1]
        group = [
            procs.start_process(f"m{i}", [sys.executable, "-c", BINDER, str(port)], log_path=path)
            for i, (port, path) in enumerate(zip([ports[0], second], log_paths, strict=True), 1)
        ]
        launches.append(group)
        return group

    try:
        group, ports = startup.start_group_on_free_ports(
            "pair",
            ports=2,
            log_paths=log_paths,
            launch=launch,
            wait_ready=lambda group, ports: _wait_all_listening(group, log_paths),
            log=lambda message: None,
        )
    finally:
        taken.close()
    try:
        assert len(launches) == 2 and group == launches[1] and len(ports) == 2
        assert all(proc.poll() is not None for proc in launches[0])  # both of the first attempt
        assert all(proc not in procs.running() for proc in launches[0])
        assert "Address already in use" in (tmp_path / "m2.attempt1.log").read_text()
        assert (tmp_path / "m1.attempt1.log").is_file()  # kept per attempt, for every member
        assert all(path.read_text() == "listening\n" for path in log_paths)
    finally:
        startup.stop_group(group)
    assert not any(procs.group_alive(proc.pid) for proc in group)


def test_check_says_how_many_nodes() -> None:
    env = {"DEVSTACK_BACKEND": "local", "MONGODB_URI": "mongodb://m:1/", "DEVSTACK_KAFKA_BROKERS": "3"}
    kafka_line = next(line for line in resolve.describe_plan(env) if line.startswith("kafka: local"))
    assert "(3-node cluster)" in kafka_line
    single = resolve.describe_plan({**env, "DEVSTACK_KAFKA_BROKERS": ""})
    assert "(one broker)" in next(line for line in single if line.startswith("kafka: local"))
