"""Integration tests for devstack: real local Kafka, SecantusDB and FerretDB, pymongo compat, CLI."""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from pymongo import ASCENDING, DESCENDING, InsertOne, MongoClient, ReturnDocument, UpdateOne
from pymongo.errors import BulkWriteError, DuplicateKeyError

import devstack
from devstack import procs

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
MARKER_ENV = "DEVSTACK_TEST_MARKER"


@pytest.fixture
def local_only(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """No server env vars, no Docker: devstack must start local processes. Yields a marker
    that every process started from here inherits through its environment."""
    monkeypatch.delenv("KAFKA_BOOTSTRAP_SERVERS", raising=False)
    monkeypatch.delenv("MONGODB_URI", raising=False)
    monkeypatch.delenv("DEVSTACK_MONGO", raising=False)  # the default: SecantusDB
    monkeypatch.delenv("DEVSTACK_MONGO_CACHE_MB", raising=False)
    monkeypatch.setenv("DEVSTACK_BACKEND", "local")
    marker = uuid.uuid4().hex
    monkeypatch.setenv(MARKER_ENV, marker)
    yield marker


def processes_with_marker(marker: str) -> list[int]:
    """PIDs of live (non-zombie) processes whose environment carries `marker`."""
    needle = f"{MARKER_ENV}={marker}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        if needle in environ.split(b"\0") and procs.pid_exists(int(entry.name)):
            found.append(int(entry.name))
    return found


async def kafka_roundtrip(bootstrap: str) -> None:
    topic = f"devstack-{uuid.uuid4().hex[:8]}"
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(topic, b"hello", key=b"k1")
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, group_id=f"g-{topic}", auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        record = await consumer.getone()
        assert (record.key, record.value) == (b"k1", b"hello")
        await consumer.commit()
    finally:
        await consumer.stop()


async def test_local_servers_serve_clients_and_leave_nothing_behind(local_only: str) -> None:
    before = procs.running()
    started = time.monotonic()
    with devstack.provide_services() as services:
        startup = time.monotonic() - started
        assert services.origin == {"kafka": "local", "mongodb": "local"}
        assert services.kafka_bootstrap_servers.startswith("127.0.0.1:")
        assert services.mongodb_uri.startswith("mongodb://127.0.0.1:")
        assert services.mongodb_uri.endswith("/?directConnection=true")
        running = [p for p in procs.running() if p not in before]  # session servers may exist
        assert sorted(p.name for p in running) == ["kafka", "secantus"]
        pids = [p.pid for p in running]
        assert all(procs.pid_exists(pid) for pid in pids)

        await kafka_roundtrip(services.kafka_bootstrap_servers)

        client: MongoClient[dict[str, object]] = MongoClient(
            services.mongodb_uri, serverSelectionTimeoutMS=5000
        )
        try:
            assert client.admin.command("ping")["ok"] == 1.0
            client.devstack_test.items.insert_one({"_id": "a", "n": 1})
            assert client.devstack_test.items.find_one({"_id": "a"}) == {"_id": "a", "n": 1}
        finally:
            client.close()
        work_dirs = {Path(p.log_path).parent.parent for p in running if p.log_path}
    print(f"warm start of both servers: {startup:.1f} s")
    assert not any(procs.pid_exists(pid) for pid in pids)
    assert processes_with_marker(local_only) == []
    assert [p for p in procs.running() if p not in before] == []
    assert all(not d.exists() for d in work_dirs), "temporary work dir must be removed"


@pytest.fixture(params=["secantus", "ferretdb"])
def mongo_only(
    local_only: str, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> Iterator[MongoClient[dict[str, object]]]:
    """Only the Mongo-wire server DEVSTACK_MONGO chooses, once per kind (Kafka 'comes from env'
    and is never contacted)."""
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9")
    monkeypatch.setenv("DEVSTACK_MONGO", request.param)
    before = procs.running()
    with devstack.provide_services() as services:
        assert services.origin == {"kafka": "env", "mongodb": "local"}
        assert [p.name for p in procs.running() if p not in before] == [request.param]
        client: MongoClient[dict[str, object]] = MongoClient(
            services.mongodb_uri, serverSelectionTimeoutMS=5000
        )
        try:
            yield client
        finally:
            client.close()
    assert processes_with_marker(local_only) == []


def test_mongo_servers_support_the_pymongo_operations_we_use(
    mongo_only: MongoClient[dict[str, object]],
) -> None:
    col = mongo_only.compat.jobs
    col.insert_many([{"_id": f"j{i}", "n": i, "g": i % 3, "email": f"u{i}@x"} for i in range(10)])
    assert col.find_one({"_id": "j3"}) == {"_id": "j3", "n": 3, "g": 0, "email": "u3@x"}
    assert col.count_documents({"n": {"$gte": 5}}) == 5

    # upsert + $setOnInsert + $max (first insert, then update keeps created / raises hi only upward)
    upd = {"$setOnInsert": {"created": 1}, "$max": {"hi": 5}, "$set": {"seen": True}}
    assert col.update_one({"_id": "u"}, upd, upsert=True).upserted_id == "u"
    col.update_one({"_id": "u"}, {"$setOnInsert": {"created": 2}, "$max": {"hi": 3}}, upsert=True)
    col.update_one({"_id": "u"}, {"$max": {"hi": 9}}, upsert=True)
    assert col.find_one({"_id": "u"}) == {"_id": "u", "created": 1, "hi": 9, "seen": True}

    doc = col.find_one_and_update(
        {"_id": "f"},
        {"$setOnInsert": {"a": 1}, "$inc": {"c": 1}},
        upsert=True,
        return_document=ReturnDocument.AFTER,
    )
    assert doc == {"_id": "f", "a": 1, "c": 1}

    result = col.bulk_write(
        [
            InsertOne({"_id": "b1", "n": 100}),
            UpdateOne({"_id": "b2"}, {"$set": {"n": 101}}, upsert=True),
            UpdateOne({"_id": "j0"}, {"$inc": {"n": 1000}}),
        ],
        ordered=False,
    )
    assert (result.inserted_count, result.upserted_count, result.modified_count) == (1, 1, 1)

    # sparse: documents without an email (u, f, b1, b2 above) are one duplicate null on MongoDB
    # and SecantusDB; FerretDB v1 alone would accept them in a non-sparse unique index
    assert col.create_index("email", unique=True, sparse=True) == "email_1"
    assert col.create_index([("g", ASCENDING), ("n", DESCENDING)], name="g_n") == "g_n"
    info = col.index_information()
    assert info["email_1"].get("unique") is True
    assert info["g_n"]["key"] == [("g", 1), ("n", -1)]
    with pytest.raises(DuplicateKeyError):
        col.insert_one({"_id": "dup", "email": "u1@x"})
    with pytest.raises(BulkWriteError) as excinfo:
        col.bulk_write(
            [
                InsertOne({"_id": "ok", "email": "new@x"}),
                InsertOne({"_id": "dup2", "email": "u2@x"}),
            ]
        )
    assert excinfo.value.details["writeErrors"][0]["code"] == 11000

    page = [d["_id"] for d in col.find({"g": {"$exists": True}}).sort([("g", 1), ("n", -1)]).skip(2).limit(3)]
    assert page == ["j6", "j3", "j7"]  # g=0 by n desc: j0 (n=1000), j9, j6, j3; then g=1: j7, ...


def _devstack_cli(*args: str, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "devstack", *args],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # a SIGTERM aimed at it must not reach pytest
    )


def _end(cli: subprocess.Popen[str]) -> None:
    """After a test of the CLI, however it went: a CLI still running (an assertion failed before
    it was told to stop) is stopped as a user would, then killed if it does not stop."""
    if cli.poll() is None:
        cli.send_signal(signal.SIGTERM)
        try:
            cli.wait(timeout=60)
        except subprocess.TimeoutExpired:
            cli.kill()
            cli.wait()
    if cli.stdout is not None:
        cli.stdout.close()


class _Output:
    """Collects a subprocess's output lines in a thread."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.lines: list[str] = []
        self._proc = proc
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        assert self._proc.stdout is not None
        for line in self._proc.stdout:
            self.lines.append(line.rstrip("\n"))

    def wait_for(self, needle: str, timeout: float) -> list[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(needle in line for line in list(self.lines)):
                return list(self.lines)
            if self._proc.poll() is not None and not self._thread.is_alive():
                break
            time.sleep(0.1)
        raise AssertionError(f"{needle!r} not seen (exit {self._proc.poll()}):\n" + "\n".join(self.lines))


def test_cli_run_stops_children_and_servers_on_sigterm(local_only: str) -> None:
    (port,) = procs.free_ports(1)
    # a child with a grandchild (the backgrounded sleep), and a web server for --ready-url
    shell_child = "sh -c 'echo kafka=$KAFKA_BOOTSTRAP_SERVERS mongo=$MONGODB_URI; sleep 300 & wait'"
    cli = _devstack_cli(
        "run",
        "--proc",
        f"web=python -m http.server {port} --bind 127.0.0.1",
        "--proc",
        f"sh={shell_child}",
        "--ready-url",
        f"http://127.0.0.1:{port}/",
        env=dict(os.environ),
    )
    try:
        lines = _Output(cli).wait_for("ready: ", timeout=240)
        env_line = next(line for line in lines if line.startswith("sh ") and "| kafka=" in line)
        assert "kafka=127.0.0.1:" in env_line and "mongo=mongodb://127.0.0.1:" in env_line
        # servers (java, secantusd-rs), both children and the grandchild carry the marker
        assert len(processes_with_marker(local_only)) >= 6
        cli.send_signal(signal.SIGTERM)
        assert cli.wait(timeout=60) == 0
    finally:
        _end(cli)
    assert processes_with_marker(local_only) == []


def test_cli_run_exits_nonzero_when_a_child_exits(local_only: str) -> None:
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9",
        "MONGODB_URI": "mongodb://127.0.0.1:9/",
    }
    cli = _devstack_cli(
        "run",
        "--no-restart",
        "--proc",
        "quitter=python -c 'import sys; print(\"bye\"); sys.exit(3)'",
        "--proc",
        "sleeper=sleep 300",
        env=env,
    )
    output, _ = cli.communicate(timeout=60)
    assert cli.returncode == 3, output
    assert "quitter  | bye" in output
    assert "quitter exited with code 3; stopping everything" in output
    assert processes_with_marker(local_only) == []


def test_cli_run_restarts_a_crashed_child_then_sigint_stops_everything(
    local_only: str, tmp_path: Path
) -> None:
    """The first run of `crashy` exits 3 (leaving a marker file); its restart stays up."""
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9",  # servers from the env: devstack starts none
        "MONGODB_URI": "mongodb://127.0.0.1:9/",
    }
    marker = tmp_path / "crashed-once"
    script = tmp_path / "crashy.py"
    script.write_text(
        "import os, sys, time\n"
        f"if not os.path.exists({str(marker)!r}):\n"
        f"    open({str(marker)!r}, 'w').close()\n"
        "    print('crashing', flush=True)\n"
        "    sys.exit(3)\n"
        "print('back up', flush=True)\n"
        "time.sleep(300)\n"
    )
    cli = _devstack_cli("run", "--proc", f"crashy=python {shlex.quote(str(script))}", env=env)
    try:
        lines = _Output(cli).wait_for("| back up", timeout=60)
        child_lines = [line.split(" | ", 1)[1] for line in lines if line.startswith("crashy ")]
        assert child_lines == ["crashing", "back up"]
        crash = next(line for line in lines if "crashy exited" in line)
        assert crash.startswith("devstack | crashy exited with code 3 after ")
        assert crash.endswith(" s; restarting in 0.5 s (crash 1 in a row)")
        restarted = next(line for line in lines if "started crashy (restart 1) (pid " in line)
        back_up = next(line for line in lines if line.endswith("| back up"))
        assert lines.index(crash) < lines.index(restarted) < lines.index(back_up)
        assert len(processes_with_marker(local_only)) == 2  # devstack and the restarted child
        cli.send_signal(signal.SIGINT)
        assert cli.wait(timeout=30) == 0
    finally:
        _end(cli)
    assert processes_with_marker(local_only) == []


def test_secantus_serves_a_compound_index_and_leaves_nothing_behind(
    local_only: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DEVSTACK_MONGO_CACHE_MB", "128")
    before = procs.running()
    with devstack.start_local_mongo("secantus", tmp_path) as uri:
        assert uri.startswith("mongodb://127.0.0.1:") and uri.endswith("/?directConnection=true")
        (server,) = [p for p in procs.running() if p not in before]
        assert server.name == "secantus" and processes_with_marker(local_only) != []
        client: MongoClient[dict[str, object]] = MongoClient(uri, serverSelectionTimeoutMS=5000)
        try:
            assert client.admin.command("ping")["ok"] == 1.0
            status = client.admin.command("serverStatus")
            assert status["wiredTiger"]["cache"]["maximum bytes configured"] == 128 * 1024 * 1024
            col = client.devstack_test.history
            col.insert_many([{"_id": f"s{i}", "userId": f"u{i % 50}", "endedAt": i} for i in range(2000)])
            name = col.create_index([("userId", ASCENDING), ("endedAt", DESCENDING)])
            assert name == "userId_1_endedAt_-1"
            page = col.find({"userId": "u7"}).sort("endedAt", DESCENDING).skip(1).limit(3)
            assert [d["_id"] for d in page] == ["s1907", "s1857", "s1807"]
            plan = col.find({"userId": "u7"}).sort("endedAt", DESCENDING).limit(3).explain()
            assert _index_scans(plan["queryPlanner"]["winningPlan"]) == ["userId_1_endedAt_-1"]
        finally:
            client.close()
    assert server not in procs.running() and not procs.group_alive(server.pid)
    assert processes_with_marker(local_only) == []
    assert (tmp_path / "secantus.log").is_file() and (tmp_path / "data" / "WiredTiger").is_file()


def _index_scans(stage: dict[str, object]) -> list[str]:
    """indexName of every IXSCAN in an explain plan tree."""
    found = [str(stage["indexName"])] if stage.get("stage") == "IXSCAN" else []
    children = [stage.get("inputStage"), *list(stage.get("inputStages") or [])]  # type: ignore[call-overload]
    for child in children:
        if isinstance(child, dict):
            found.extend(_index_scans(child))
    return found


def test_start_local_mongo_runs_ferretdb_beside_the_default(local_only: str, tmp_path: Path) -> None:
    """What the store tests do: the default server from provide_services, plus a FerretDB."""
    with devstack.start_local_mongo("secantus", tmp_path / "a") as first:
        with devstack.start_local_mongo("ferretdb", tmp_path / "b") as second:
            assert first != second and second.startswith("mongodb://127.0.0.1:")
            for uri, expected in ((first, "secantus"), (second, "ferretdb")):
                client: MongoClient[dict[str, object]] = MongoClient(uri, serverSelectionTimeoutMS=5000)
                try:
                    client.side.by.insert_one({"_id": expected})
                    assert client.side.by.distinct("_id") == [expected]  # separate stores
                finally:
                    client.close()
    assert (tmp_path / "b" / "ferretdb.log").is_file()
    assert processes_with_marker(local_only) == []


def test_cli_run_expands_gateways_behind_nginx_and_stops_it_too(local_only: str, tmp_path: Path) -> None:
    """--gateways 2: each gateway gets its PORT, nginx fronts them on --port, "ready" waits for all."""
    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9", "MONGODB_URI": "mongodb://127.0.0.1:9/"}
    env.pop("HOST", None)
    gateway = tmp_path / "gateway.py"  # stands in for `python -m gateway`: answers with its PORT
    gateway.write_text(
        "import http.server, os\n"
        "port = int(os.environ['PORT'])\n"
        "class H(http.server.BaseHTTPRequestHandler):\n"
        "    def do_GET(self):\n"
        "        body = f'{port} {os.environ[\"HOST\"]}'.encode()\n"
        "        self.send_response(200); self.send_header('Content-Length', str(len(body)))\n"
        "        self.end_headers(); self.wfile.write(body)\n"
        "http.server.HTTPServer((os.environ['HOST'], port), H).serve_forever()\n"
    )
    (port,) = procs.free_ports(1)
    cli = _devstack_cli(
        "run",
        "--gateways",
        "2",
        "--port",
        str(port),
        "--gateway-cmd",
        f"python {shlex.quote(str(gateway))}",
        env=env,
    )
    try:
        lines = _Output(cli).wait_for(f"ready: http://127.0.0.1:{port}/readyz", timeout=60)
        ready = [line for line in lines if line.startswith("ready: ")]
        assert ready == [f"ready: http://127.0.0.1:{p}/readyz" for p in (port + 1, port + 2, port)]
        own = [line.split(" | ", 1)[1] for line in lines if line.startswith("devstack ") and " | " in line]
        started = [text.split(" (pid")[0] for text in own if text.startswith("started ")]
        assert started == ["started gateway-1", "started gateway-2", "started nginx"]
        assert any(
            text.startswith("started gateway-2 (pid ") and f"PORT={port + 2} HOST=127.0.0.1" in text
            for text in own
        )
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/") as response:  # through nginx
            assert response.read().decode() in (f"{port + 1} 127.0.0.1", f"{port + 2} 127.0.0.1")
        assert len(processes_with_marker(local_only)) == 3  # devstack, 2 gateways (nginx clears its env)
        nginx_pid = int(next(t for t in own if t.startswith("started nginx (pid ")).split()[3].rstrip("):"))
        assert procs.group_alive(nginx_pid)  # its master and worker
        cli.send_signal(signal.SIGINT)
        assert cli.wait(timeout=30) == 0
    finally:
        _end(cli)
    assert processes_with_marker(local_only) == []
    assert not procs.group_alive(nginx_pid)
    assert not procs.tcp_open("127.0.0.1", port)
