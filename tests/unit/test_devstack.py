"""Unit tests for devstack: rendering, ports, resolution, cache keys, builds, process groups."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

import devstack
from devstack import cache, docker, ferretdb, kafka, mongo, procs, resolve, secantus, startup
from devstack.__main__ import build_parser
from devstack.supervise import parse_proc_spec

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[2]


def _props(text: str) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in text.splitlines() if line and not line.startswith("#"))
    return {key: value for key, value in pairs}


def test_public_api_is_reexported() -> None:
    assert set(devstack.__all__) == {
        "DevstackError",
        "Services",
        "provide_services",
        "start_local_mongo",
    }
    assert issubclass(devstack.DevstackError, RuntimeError)
    services = devstack.Services("127.0.0.1:1", "mongodb://127.0.0.1:2/", {"kafka": "env", "mongodb": "env"})
    assert services.env() == {
        "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1",
        "MONGODB_URI": "mongodb://127.0.0.1:2/",
    }
    with pytest.raises(AttributeError):
        services.mongodb_uri = "x"  # type: ignore[misc]  # frozen


def test_server_properties_render_ports_and_required_settings(tmp_path: Path) -> None:
    props = _props(kafka.render_server_properties(19092, 19093, tmp_path / "data"))
    assert props["listeners"] == "PLAINTEXT://127.0.0.1:19092,CONTROLLER://127.0.0.1:19093"
    assert props["advertised.listeners"] == "PLAINTEXT://127.0.0.1:19092"
    assert props["controller.quorum.voters"] == "1@127.0.0.1:19093"
    assert props["log.dirs"] == str(tmp_path / "data")
    assert props["process.roles"] == "broker,controller"
    for key, value in {
        "group.initial.rebalance.delay.ms": "0",
        "auto.create.topics.enable": "true",
        "offsets.topic.num.partitions": "1",
        "offsets.topic.replication.factor": "1",
        "transaction.state.log.replication.factor": "1",
        "num.network.threads": "2",
        "num.io.threads": "2",
    }.items():
        assert props[key] == value, key


def test_cluster_id_has_kafka_format() -> None:
    cluster_id = kafka.new_cluster_id()
    assert len(cluster_id) == 22 and "=" not in cluster_id
    assert cluster_id != kafka.new_cluster_id()
    # a leading "-" would be read as an option by kafka-storage format (1 id in 64 did)
    assert not any(kafka.new_cluster_id().startswith("-") for _ in range(2000))


def test_versions_come_from_the_committed_build_files() -> None:
    assert kafka.kafka_version().startswith("3.9.")
    assert ferretdb.ferretdb_version() == "v1.24.2"
    assert secantus.VERSION == "0.5.3-beta.196"
    for name in ferretdb.SOURCE_FILES:
        assert (ferretdb.SOURCE_DIR / name).is_file(), name
    assert "github.com/FerretDB/FerretDB v1.24.2 h1:" in (ferretdb.SOURCE_DIR / "go.sum").read_text()


def test_free_ports_are_distinct_and_bindable() -> None:
    ports = procs.free_ports(3)
    assert len(set(ports)) == 3
    for port in ports:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", port))


def test_cache_root_resolution(tmp_path: Path) -> None:
    assert cache.cache_root({"STREAMPROC_CACHE": str(tmp_path / "c")}) == tmp_path / "c"
    assert cache.cache_root({"XDG_CACHE_HOME": str(tmp_path)}) == tmp_path / "streamproc"
    assert cache.cache_root({}) == Path.home() / ".cache" / "streamproc"


def test_cache_keys_follow_versions_and_sources(tmp_path: Path) -> None:
    assert kafka.libs_dir(tmp_path).parent.name.startswith(f"kafka-{kafka.kafka_version()}-")
    src = tmp_path / "src"
    src.mkdir()
    for name in ferretdb.SOURCE_FILES:
        (src / name).write_bytes((ferretdb.SOURCE_DIR / name).read_bytes())
    assert ferretdb.source_hash(src) == ferretdb.source_hash()
    key = ferretdb.binary_path(tmp_path).parent.name
    assert key == f"ferretdb-v1.24.2-{ferretdb.source_hash()}"
    (src / "main.go").write_text((src / "main.go").read_text() + "\n// changed\n")
    assert ferretdb.source_hash(src) != ferretdb.source_hash()
    key = secantus.binary_path(tmp_path).parent.name
    assert key == f"secantus-0.5.3-beta.196-{secantus.recipe_hash()}"
    assert secantus.binary_path(tmp_path).name == "secantusd-rs"


def test_build_once_builds_once_under_concurrency(tmp_path: Path) -> None:
    calls: list[int] = []

    def build(tmp: Path) -> None:
        calls.append(1)
        time.sleep(0.2)
        (tmp / "artifact").write_text("ok")

    final = tmp_path / "thing-1"
    threads = [threading.Thread(target=cache.build_once, args=(final, build)) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert calls == [1]
    assert (final / "artifact").read_text() == "ok"
    assert [p.name for p in tmp_path.iterdir() if ".tmp-" in p.name] == []


def test_build_once_leaves_nothing_after_a_failed_build(tmp_path: Path) -> None:
    def broken(tmp: Path) -> None:
        (tmp / "half").write_text("x")
        raise devstack.DevstackError("boom")

    final = tmp_path / "thing-2"
    with pytest.raises(devstack.DevstackError, match="boom"):
        cache.build_once(final, broken)
    assert not final.exists()
    assert [p.name for p in tmp_path.iterdir() if ".tmp-" in p.name] == []


def test_missing_tools_raise_with_instructions(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # nothing on PATH
    with pytest.raises(devstack.DevstackError) as excinfo:
        kafka.ensure_libs(tmp_path / "cache")
    message = str(excinfo.value)
    assert "mvn" in message
    for hint in ("KAFKA_BOOTSTRAP_SERVERS", "MONGODB_URI", "Docker", "Java 17+", "Maven", "Go"):
        assert hint in message
    with pytest.raises(devstack.DevstackError, match="`go` not found"):
        ferretdb.ensure_binary(tmp_path / "cache")
    with pytest.raises(devstack.DevstackError, match="`cargo` not found") as excinfo:
        secantus.ensure_binary(tmp_path / "cache")
    assert "Rust toolchain" in str(excinfo.value) and "DEVSTACK_MONGO=ferretdb" in str(excinfo.value)
    assert not (tmp_path / "cache").exists()


def _no_docker() -> bool:
    raise AssertionError("docker must not be probed when both env vars are set")


def test_resolution_env_wins_and_skips_docker_probe() -> None:
    env = {"KAFKA_BOOTSTRAP_SERVERS": "k:9092", "MONGODB_URI": "mongodb://m:27017/"}
    assert resolve.resolve_origins(env, _no_docker) == {"kafka": "env", "mongodb": "env"}


def test_resolution_order_per_service() -> None:
    only_kafka = {"KAFKA_BOOTSTRAP_SERVERS": "k:9092"}
    assert resolve.resolve_origins(only_kafka, lambda: True) == {
        "kafka": "env",
        "mongodb": "docker",
    }
    assert resolve.resolve_origins(only_kafka, lambda: False) == {
        "kafka": "env",
        "mongodb": "local",
    }
    assert resolve.resolve_origins({"MONGODB_URI": " "}, lambda: False) == {
        "kafka": "local",
        "mongodb": "local",
    }
    forced = {"DEVSTACK_BACKEND": "local"}
    assert resolve.resolve_origins(forced, _no_docker) == {"kafka": "local", "mongodb": "local"}
    with pytest.raises(devstack.DevstackError, match="DEVSTACK_BACKEND"):
        resolve.resolve_origins({"DEVSTACK_BACKEND": "podman"}, lambda: False)


def test_provide_services_with_env_starts_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:19092")
    monkeypatch.setenv("MONGODB_URI", "mongodb://127.0.0.1:27017/")
    before = procs.running()
    nothing = resolve.Backends(docker_available=_no_docker)
    with devstack.provide_services(backends=nothing) as services:
        assert services == devstack.Services(
            "127.0.0.1:19092", "mongodb://127.0.0.1:27017/", {"kafka": "env", "mongodb": "env"}
        )
        assert procs.running() == before


def test_describe_plan_names_every_service_and_the_mongo_choice() -> None:
    env = {"KAFKA_BOOTSTRAP_SERVERS": "k:1", "DEVSTACK_BACKEND": "local"}  # no Docker probe
    lines = resolve.describe_plan(env)
    assert "kafka: env - KAFKA_BOOTSTRAP_SERVERS=k:1" in lines
    assert "local MongoDB-wire server: secantus (DEVSTACK_MONGO)" in lines
    assert any(line.startswith("mongodb: local - SecantusDB 0.5.3-beta.196 binary") for line in lines)
    lines = resolve.describe_plan({**env, "DEVSTACK_MONGO": "ferretdb"})
    assert any(line.startswith("mongodb: local - FerretDB v1.24.2 binary") for line in lines)
    with pytest.raises(devstack.DevstackError, match="DEVSTACK_MONGO"):
        resolve.describe_plan({**env, "DEVSTACK_MONGO": "mongod"})


def test_mongo_choice_defaults_to_secantus() -> None:
    assert mongo.mongo_choice({}) == "secantus"
    assert mongo.mongo_choice({"DEVSTACK_MONGO": " "}) == "secantus"
    assert mongo.mongo_choice({"DEVSTACK_MONGO": "FerretDB"}) == "ferretdb"
    assert mongo.mongo_choice({"DEVSTACK_MONGO": "secantus"}) == "secantus"
    with pytest.raises(devstack.DevstackError, match="expected one of secantus, ferretdb"):
        mongo.mongo_choice({"DEVSTACK_MONGO": "mongod"})


def test_start_local_mongo_rejects_an_unknown_kind_before_starting_anything(
    tmp_path: Path,
) -> None:
    before = procs.running()
    with pytest.raises(devstack.DevstackError, match="unknown MongoDB-wire server 'mongod'"):
        with devstack.start_local_mongo("mongod", tmp_path / "w"):
            pass
    assert procs.running() == before and not (tmp_path / "w").exists()
    with pytest.raises(devstack.DevstackError, match="unknown build target"):
        resolve.build_targets(["kafka", "mongod"])


def test_build_cli_accepts_one_or_all_mongo_servers() -> None:
    assert build_parser().parse_args(["build"]).mongo is None  # DEVSTACK_MONGO decides
    assert build_parser().parse_args(["build", "--mongo", "all"]).mongo == "all"
    assert build_parser().parse_args(["build", "--mongo", "ferretdb"]).mongo == "ferretdb"
    with pytest.raises(SystemExit):
        build_parser().parse_args(["build", "--mongo", "mongod"])


def test_cargo_install_command_line(tmp_path: Path) -> None:
    assert secantus.cargo_install_argv("/x/cargo", tmp_path) == [
        "/x/cargo",
        "install",
        "secantus-mdb",
        "--version",
        "0.5.3-beta.196",
        "--locked",
        "--ignore-rust-version",
        "--root",
        str(tmp_path),
        "--target-dir",
        str(tmp_path / "target"),
    ]


# Stand-ins for the outside world's tools (not our code): they record their argv and do what the
# real `cargo install` leaves behind, so the build path runs for real without a 6-minute build.
FAKE_CARGO = """#!/bin/sh
echo "$@" >> "$FAKE_CARGO_CALLS"
echo "Compiling secantus-mdb (stand-in)"
[ -n "$FAKE_CARGO_FAIL" ] && { echo "error: linker cc not found"; exit 101; }
while [ "$1" != "--root" ]; do shift; done
mkdir -p "$2/bin" "$2/target/release"
printf '#!/bin/sh\\necho secantusd-rs stand-in\\n' > "$2/bin/secantusd-rs"
chmod +x "$2/bin/secantusd-rs"
echo big > "$2/target/release/libwiredtiger.a"
echo '[v1]' > "$2/.crates.toml"
echo '{}' > "$2/.crates2.json"
"""


def _tools_dir(tmp_path: Path) -> Path:
    tools = tmp_path / "bin"
    tools.mkdir()
    (tools / "cargo").write_text(FAKE_CARGO)
    (tools / "cmake").write_text("#!/bin/sh\nexit 0\n")
    for tool in tools.iterdir():
        tool.chmod(0o755)
    return tools


def test_secantus_build_keeps_only_the_binary_and_runs_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tools = _tools_dir(tmp_path)
    calls = tmp_path / "calls"
    monkeypatch.setenv("PATH", f"{tools}:/usr/bin:/bin")  # the stand-ins first; no real cargo
    monkeypatch.setenv("FAKE_CARGO_CALLS", str(calls))
    cache_dir = tmp_path / "cache"
    messages: list[str] = []

    binary = secantus.ensure_binary(cache_dir, log=messages.append)
    assert binary == secantus.binary_path(cache_dir) and os.access(binary, os.X_OK)
    assert sorted(p.name for p in binary.parent.iterdir()) == ["build.log", "secantusd-rs"]
    (argv,) = calls.read_text().splitlines()
    build_root = argv.split("--root ")[1].split()[0]
    assert Path(build_root).name.startswith(f".{binary.parent.name}.tmp-")
    assert argv.split() == secantus.cargo_install_argv(str(tools / "cargo"), Path(build_root))[1:]
    assert "$ " + str(tools / "cargo") + " install secantus-mdb" in (binary.parent / "build.log").read_text()
    assert any("building SecantusDB 0.5.3-beta.196" in m for m in messages)
    assert [p.name for p in cache_dir.iterdir() if ".tmp-" in p.name] == []

    assert secantus.ensure_binary(cache_dir) == binary
    assert len(calls.read_text().splitlines()) == 1  # cached: cargo is not run again


def test_failed_secantus_build_says_why_and_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", f"{_tools_dir(tmp_path)}:/usr/bin:/bin")
    monkeypatch.setenv("FAKE_CARGO_CALLS", str(tmp_path / "calls"))
    monkeypatch.setenv("FAKE_CARGO_FAIL", "1")
    with pytest.raises(devstack.DevstackError, match="linker cc not found") as excinfo:
        secantus.ensure_binary(tmp_path / "cache")
    assert "cargo install secantus-mdb 0.5.3-beta.196 failed (exit 101)" in str(excinfo.value)
    assert [p.name for p in (tmp_path / "cache").iterdir() if not p.name.endswith(".lock")] == []


def test_secantus_command_line(tmp_path: Path) -> None:
    argv = secantus.server_argv(
        Path("/c/secantusd-rs"), 27999, tmp_path / "data", tmp_path / "secantusd.toml", 128
    )
    flags = dict(zip(argv[1::2], argv[2::2], strict=True))
    assert argv[0] == "/c/secantusd-rs"
    assert flags == {
        "--config": str(tmp_path / "secantusd.toml"),
        "--host": "127.0.0.1",
        "--port": "27999",
        "--storage-path": str(tmp_path / "data"),
        "--cache-size": "128M",
        "--log-file-max": "32MB",
        "--log-level": "WARNING",
    }
    assert secantus.mongodb_uri(27999) == "mongodb://127.0.0.1:27999/?directConnection=true"


def test_secantus_cache_bound_from_env() -> None:
    assert secantus.cache_mb({}) == 1024
    assert secantus.cache_mb({"DEVSTACK_MONGO_CACHE_MB": " 64 "}) == 64
    for bad in ("0", "-1", "1G", "lots"):
        with pytest.raises(devstack.DevstackError, match="DEVSTACK_MONGO_CACHE_MB"):
            secantus.cache_mb({"DEVSTACK_MONGO_CACHE_MB": bad})


# A server stand-in for the shared start-up helper: binds the port it is given, like a real one.
BINDER = (
    "import socket, sys, time; s = socket.socket(); s.bind(('127.0.0.1', int(sys.argv[1]))); "
    "s.listen(); print('listening', flush=True); time.sleep(60)"
)


def _wait_listening(proc: procs.ManagedProcess, log_path: Path) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        startup.check_still_running(proc.name, proc, log_path)
        if b"listening" in log_path.read_bytes():
            return
        time.sleep(0.05)
    raise AssertionError("binder never listened")


def test_port_clash_is_retried_on_new_ports(tmp_path: Path) -> None:
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    log_path = tmp_path / "binder.log"
    messages: list[str] = []
    launched: list[int] = []

    def launch(ports: list[int]) -> procs.ManagedProcess:
        # the first attempt loses the race: as if someone took its port after free_ports
        port = taken.getsockname()[1] if not launched else ports[0]
        launched.append(ports[0])
        return procs.start_process("binder", [sys.executable, "-c", BINDER, str(port)], log_path=log_path)

    try:
        proc, ports = startup.start_on_free_ports(
            "binder",
            ports=1,
            log_path=log_path,
            launch=launch,
            wait_ready=lambda proc, ports: _wait_listening(proc, log_path),
            log=messages.append,
        )
    finally:
        taken.close()
    try:
        assert len(launched) == 2 and launched[1] == ports[0] and proc.poll() is None
        assert "Address already in use" in (tmp_path / "binder.attempt1.log").read_text()
        assert log_path.read_text() == "listening\n"
        assert messages == [f"binder: port {launched[0]} was taken meanwhile, retrying (1)"]
    finally:
        proc.stop(timeout=5)


def test_other_startup_failures_are_not_retried(tmp_path: Path) -> None:
    log_path = tmp_path / "crasher.log"
    launched: list[procs.ManagedProcess] = []

    def launch(ports: list[int]) -> procs.ManagedProcess:
        code = "import sys; print('config error: bad flag'); sys.exit(2)"
        launched.append(procs.start_process("crasher", [sys.executable, "-c", code], log_path=log_path))
        return launched[-1]

    with pytest.raises(devstack.DevstackError, match="crasher exited during startup") as excinfo:
        startup.start_on_free_ports(
            "crasher",
            ports=1,
            log_path=log_path,
            launch=launch,
            wait_ready=lambda proc, ports: _wait_listening(proc, log_path),
        )
    assert "config error: bad flag" in str(excinfo.value)
    assert len(launched) == 1 and launched[0] not in procs.running()


def test_parse_proc_spec() -> None:
    spec = parse_proc_spec('worker=python -m runtime worker --name "a b"')
    assert spec.name == "worker"
    assert spec.argv == [sys.executable, "-m", "runtime", "worker", "--name", "a b"]
    assert parse_proc_spec("web=node server.js").argv == ["node", "server.js"]
    for bad in ("noequals", "=cmd", "name=", "bad name=cmd"):
        with pytest.raises(ValueError):
            parse_proc_spec(bad)


def test_stop_kills_the_whole_process_group() -> None:
    # the two backgrounded sleeps are grandchildren in the same process group
    proc = procs.start_process("sleepers", ["sh", "-c", "sleep 300 & sleep 300 & wait"])
    time.sleep(0.3)
    members = [pid for pid in _pids_in_group(proc.pid)]
    assert proc.pid in members and len(members) >= 3
    assert proc in procs.running()
    proc.stop(timeout=5)
    assert not procs.group_alive(proc.pid)
    assert not any(procs.pid_exists(pid) for pid in members)
    assert proc not in procs.running()


def test_stop_escalates_to_sigkill() -> None:
    code = (
        "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
        "print('x', flush=True); time.sleep(60)"
    )
    proc = procs.start_process("stubborn", [sys.executable, "-c", code], pipe_output=True)
    assert proc.popen.stdout is not None and proc.popen.stdout.readline() == b"x\n"
    started = time.monotonic()
    assert proc.stop(timeout=0.5) == -signal.SIGKILL
    assert time.monotonic() - started < 5
    proc.popen.stdout.close()


def test_compose_file_shape() -> None:
    text = (REPO / "docker-compose.kafka.yml").read_text()
    for needle in (
        "apache/kafka:3.9.0",
        "mongo:7",
        "9092:9092",
        "27017:27017",
        "KAFKA_PROCESS_ROLES",
        "KAFKA_ADVERTISED_LISTENERS",
        "PLAINTEXT_HOST://localhost:9092",
    ):
        assert needle in text, needle


def _pids_in_group(pgid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if os.getpgid(int(entry.name)) == pgid:
                    found.append(int(entry.name))
            except ProcessLookupError:
                pass
    return found


def _fake_builds(names: list[str], *, log: object = None) -> dict[str, Path]:
    return {name: Path("/nonexistent") / name for name in names}


@contextlib.contextmanager
def _fake_container(uri: str, log: object = None) -> Iterator[str]:
    yield uri


def test_docker_path_uses_testcontainers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KAFKA_BOOTSTRAP_SERVERS", raising=False)
    monkeypatch.delenv("MONGODB_URI", raising=False)
    monkeypatch.delenv("DEVSTACK_BACKEND", raising=False)
    uris = {"kafka": "localhost:1", "mongodb": "mongodb://h:2/"}
    containers = resolve.Backends(
        docker_available=lambda: True,
        container=lambda name, stack, log: stack.enter_context(_fake_container(uris[name])),
    )
    with devstack.provide_services(backends=containers) as services:
        assert services == devstack.Services(
            "localhost:1", "mongodb://h:2/", {"kafka": "docker", "mongodb": "docker"}
        )


def test_docker_failure_falls_back_to_local(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.delenv("KAFKA_BOOTSTRAP_SERVERS", raising=False)
    monkeypatch.setenv("MONGODB_URI", "mongodb://m:1/")
    monkeypatch.delenv("DEVSTACK_BACKEND", raising=False)

    def broken(name: str, stack: object, log: object) -> str:
        raise RuntimeError("pull access denied")

    started: list[list[str]] = []

    def fake_local(built: dict[str, Path], work: Path, stack: object, log: object) -> dict[str, str]:
        started.append(sorted(built))
        return {"kafka": "127.0.0.1:3"}

    backends = resolve.Backends(
        docker_available=lambda: True, container=broken, builds=_fake_builds, start_local=fake_local
    )
    with devstack.provide_services(backends=backends) as services:
        assert services.origin == {"kafka": "local", "mongodb": "env"}
    assert started == [["kafka"]]
    monkeypatch.setenv("DEVSTACK_BACKEND", "docker")  # forced: no fallback, a clear error
    with pytest.raises(devstack.DevstackError, match="pull access denied"):
        with devstack.provide_services(backends=backends):
            pass


def test_testcontainers_modules_import_without_deprecation() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        assert docker._kafka_container_class().__name__ == "KafkaContainer"
        assert docker._mongodb_container_class().__name__ == "MongoDbContainer"


def test_docker_probe_is_false_without_an_engine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no docker CLI: the SDK ping is used
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/nothing.sock")
    started = time.monotonic()
    assert docker.docker_available(timeout=2.0) is False
    assert time.monotonic() - started < 5


def test_failed_start_keeps_work_dir_and_says_where(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.setenv("DEVSTACK_BACKEND", "local")
    monkeypatch.delenv("KAFKA_BOOTSTRAP_SERVERS", raising=False)
    monkeypatch.delenv("MONGODB_URI", raising=False)

    def failing(built: dict[str, Path], work: Path, stack: object, log: object) -> dict[str, str]:
        (work / "kafka.log").write_text("boom\n")
        raise devstack.DevstackError("kafka exited during startup")

    backends = resolve.Backends(builds=_fake_builds, start_local=failing)
    with pytest.raises(devstack.DevstackError, match="work dir kept for inspection") as excinfo:
        with devstack.provide_services(backends=backends):
            pass
    kept = [p for p in tmp_path.iterdir() if p.name.startswith("devstack-")]
    assert len(kept) == 1 and str(kept[0]) in str(excinfo.value)
    assert (kept[0] / "kafka.log").read_text() == "boom\n"
    assert not (kept[0] / resolve.OWNER_FILE).exists()  # kept dirs are never swept


def test_work_dirs_of_killed_runs_are_swept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    dead = subprocess.Popen(["true"])
    dead.wait()
    orphan, kept, alive = (tmp_path / f"devstack-{n}" for n in ("orphan", "kept", "alive"))
    for d in (orphan, kept, alive):
        d.mkdir()
    (orphan / resolve.OWNER_FILE).write_text(str(dead.pid))
    (alive / resolve.OWNER_FILE).write_text(str(os.getpid()))
    fresh = resolve._new_work_dir()
    assert fresh.is_dir() and (fresh / resolve.OWNER_FILE).read_text() == str(os.getpid())
    assert not orphan.exists() and kept.is_dir() and alive.is_dir()


def test_missing_build_tools_fail_before_any_work_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    monkeypatch.setenv("STREAMPROC_CACHE", str(tmp_path / "empty-cache"))
    monkeypatch.setenv("PATH", str(tmp_path))  # no java, mvn, go
    monkeypatch.setenv("DEVSTACK_BACKEND", "local")
    monkeypatch.delenv("KAFKA_BOOTSTRAP_SERVERS", raising=False)
    monkeypatch.setenv("MONGODB_URI", "mongodb://m:1/")
    with pytest.raises(devstack.DevstackError) as excinfo:
        with devstack.provide_services():
            pass
    assert "`mvn` not found" in str(excinfo.value) and "KAFKA_BOOTSTRAP_SERVERS" in str(excinfo.value)
    assert list((tmp_path / "tmp").iterdir()) == []
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9")  # now only the Mongo server
    monkeypatch.delenv("MONGODB_URI")
    monkeypatch.delenv("DEVSTACK_MONGO", raising=False)
    with pytest.raises(devstack.DevstackError, match="`cargo` not found"):
        with devstack.provide_services():
            pass
    assert list((tmp_path / "tmp").iterdir()) == []
