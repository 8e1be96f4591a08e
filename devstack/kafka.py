"""Local Apache Kafka 3.9 from Maven Central jars: one KRaft broker+controller, or a small cluster."""

from __future__ import annotations

import asyncio
import base64
import logging
import os
import shutil
import subprocess
import threading
import time
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from devstack.cache import Log, build_once, hash_files, require_tool, run_build_step, tail_lines
from devstack.errors import HOW_TO_GET_SERVERS, DevstackError
from devstack.procs import ManagedProcess, restart, start_process, tcp_open
from devstack.startup import check_still_running, start_group_on_free_ports, start_on_free_ports, stop_group

logger = logging.getLogger(__name__)

POM = Path(__file__).with_name("kafka") / "pom.xml"
DEPENDENCY_PLUGIN = "org.apache.maven.plugins:maven-dependency-plugin:3.8.1"
READY_LINE = b"Kafka Server started"
START_TIMEOUT = 120.0
BROKERS_ENV = "DEVSTACK_KAFKA_BROKERS"  # 1 (default): one node; 3: a three-node cluster
MAX_BROKERS = 5

# The flags of bin/kafka-run-class.sh (KAFKA_JVM_PERFORMANCE_OPTS); heap is set separately.
JVM_FLAGS = (
    "-server",
    "-XX:+UseG1GC",
    "-XX:MaxGCPauseMillis=20",
    "-XX:InitiatingHeapOccupancyPercent=35",
    "-XX:+ExplicitGCInvokesConcurrent",
    "-XX:MaxInlineLevel=15",
    "-Djava.awt.headless=true",
    "-Djava.net.preferIPv4Stack=true",
)
BROKER_HEAP = ("-Xms256m", "-Xmx512m")
CLUSTER_BROKER_HEAP = ("-Xms128m", "-Xmx384m")  # per node: three must fit beside the rest
TOOL_HEAP = ("-Xmx256m",)

LOG4J_PROPERTIES = """\
log4j.rootLogger=INFO, stdout
log4j.appender.stdout=org.apache.log4j.ConsoleAppender
log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka.request.logger=WARN
log4j.logger.state.change.logger=WARN
log4j.logger.org.apache.zookeeper=WARN
"""


@lru_cache(maxsize=1)
def kafka_version(pom: Path = POM) -> str:
    """`kafka.version` from devstack/kafka/pom.xml (the single place the version is set)."""
    ns = {"m": "http://maven.apache.org/POM/4.0.0"}
    node = ET.parse(pom).getroot().find("m:properties/m:kafka.version", ns)
    if node is None or not (node.text or "").strip():
        raise DevstackError(f"{pom} has no <kafka.version> property")
    return (node.text or "").strip()


def libs_dir(cache: Path) -> Path:
    """Where the broker's runtime jars live: keyed by Kafka version and the pom's hash."""
    return cache / f"kafka-{kafka_version()}-{hash_files([POM], 10)}" / "libs"


def ensure_libs(cache: Path, *, log: Log = logger.info) -> Path:
    """Resolve Kafka's runtime classpath into the cache once (mvn copy-dependencies)."""
    libs = libs_dir(cache)
    if libs.is_dir():
        return libs
    mvn = require_tool("mvn", "download the Kafka broker jars from Maven Central")
    version = kafka_version()

    def build(tmp: Path) -> None:
        log(f"resolving Kafka {version} jars with Maven into {libs} (first run only, ~1-2 min) ...")
        started = time.monotonic()
        shutil.copy2(POM, tmp / "pom.xml")
        run_build_step(
            [
                mvn,
                "-B",
                "-q",
                "-f",
                str(tmp / "pom.xml"),
                f"{DEPENDENCY_PLUGIN}:copy-dependencies",
                "-DincludeScope=runtime",
                f"-DoutputDirectory={tmp / 'libs'}",
            ],
            cwd=tmp,
            log_path=tmp / "build.log",
            what=f"Maven resolution of Kafka {version}",
        )
        if not (tmp / "libs" / f"kafka_2.13-{version}.jar").is_file():
            raise DevstackError(f"Maven finished but kafka_2.13-{version}.jar is missing in {tmp / 'libs'}")
        log(f"Kafka jars ready in {time.monotonic() - started:.0f} s")

    build_once(libs.parent, build, log=log)
    return libs


def java_executable() -> str:
    """`$JAVA_HOME/bin/java` if set, else `java` from PATH."""
    java_home = os.environ.get("JAVA_HOME")
    if java_home and (Path(java_home) / "bin" / "java").is_file():
        return str(Path(java_home) / "bin" / "java")
    return require_tool("java", "run the Kafka broker (Java 17+)")


def new_cluster_id() -> str:
    """A 22-character base64url UUID, the form `kafka-storage.sh random-uuid` prints.

    Like Kafka's own Uuid.randomUuid(), never one that starts with "-": the storage tool would
    read it as an option ("argument --cluster-id/-t: expected one argument"), 1 start in 64.
    """
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id


def broker_count(env: Mapping[str, str] | None = None) -> int:
    """How many local Kafka nodes DEVSTACK_KAFKA_BROKERS asks for (default 1)."""
    env = os.environ if env is None else env
    raw = env.get(BROKERS_ENV, "").strip() or "1"
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_BROKERS:
        raise DevstackError(f"{BROKERS_ENV}={raw!r}: expected a whole number from 1 to {MAX_BROKERS}")
    return int(raw)


def replication_factor(brokers: int) -> int:
    """The replication factor a cluster of `brokers` nodes gives topics: 3 at most."""
    return min(3, brokers)


def render_server_properties(
    port: int,
    controller_port: int,
    data_dir: Path,
    *,
    node_id: int = 1,
    voters: str | None = None,
    brokers: int = 1,
) -> str:
    """server.properties for one loopback KRaft node, broker and controller in one process.

    Alone (the defaults) it is its own quorum; in a cluster of `brokers` nodes `voters` names
    every node's controller listener, and internal topics are replicated like project topics:
    RF 3 (at most `brokers`), 2 in sync (`min.insync.replicas` is also the broker default, so a
    topic created without thought is as durable as the offsets topic).
    """
    rf = replication_factor(brokers)
    in_sync = min(2, rf)
    shape = "Single-node" if brokers == 1 else f"Node {node_id} of a {brokers}-node"
    return f"""\
# {shape} Apache Kafka 3.9, KRaft combined broker+controller, loopback only (devstack).
process.roles=broker,controller
node.id={node_id}
controller.quorum.voters={voters or f"{node_id}@127.0.0.1:{controller_port}"}
listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}
advertised.listeners=PLAINTEXT://127.0.0.1:{port}
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs={data_dir}
num.partitions=1
default.replication.factor={rf}
min.insync.replicas={in_sync}
offsets.topic.replication.factor={rf}
offsets.topic.num.partitions=1
transaction.state.log.replication.factor={rf}
transaction.state.log.min.isr={in_sync}
transaction.state.log.num.partitions=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=true
delete.topic.enable=true
# small-machine tuning: fewer threads, smaller log-cleaner buffer (default 128 MiB of heap)
num.network.threads=2
num.io.threads=2
background.threads=2
num.recovery.threads.per.data.dir=1
log.cleaner.dedupe.buffer.size=33554432
"""


@dataclass
class LocalKafka:
    bootstrap_servers: str  # every node's address, comma-separated
    processes: list[ManagedProcess]
    work_dir: Path

    @property
    def process(self) -> ManagedProcess:
        """The first (for a single broker, the only) node."""
        return self.processes[0]

    def stop(self) -> None:
        """Stop every node at once (see `startup.stop_group`)."""
        stop_group(self.processes)

    # -- one node at a time, for fault tests: node ids are 1..N, as in `node.id` ----------------
    def node(self, node_id: int) -> ManagedProcess:
        if not 1 <= node_id <= len(self.processes):
            raise DevstackError(f"no kafka node {node_id}: the cluster has {len(self.processes)}")
        return self.processes[node_id - 1]

    def kill_node(self, node_id: int) -> None:
        """SIGKILL one node (a crash: no controlled shutdown, no leadership handed over)."""
        self.node(node_id).kill()

    def stop_node(self, node_id: int) -> None:
        """SIGTERM one node: a controlled shutdown (SIGKILL if it takes too long)."""
        self.node(node_id).stop()

    def restart_node(self, node_id: int, *, timeout: float = START_TIMEOUT) -> ManagedProcess:
        """Start a stopped or killed node again with its own properties, data dir and ports;
        return once it has logged its start and listens (it then catches up as a follower)."""
        old = self.node(node_id)
        log_path = old.log_path
        if log_path is None:
            raise DevstackError(f"{old.name} has no log to wait on")
        seen = len(_read(log_path))  # the log is appended to: only a new start line counts
        proc = restart(old)
        self.processes[node_id - 1] = proc
        port = int(self.bootstrap_servers.split(",")[node_id - 1].rsplit(":", 1)[1])
        deadline = time.monotonic() + timeout
        while not (READY_LINE in _read(log_path)[seen:] and tcp_open("127.0.0.1", port)):
            check_still_running(proc.name, proc, log_path)
            if time.monotonic() > deadline:
                raise DevstackError(
                    f"{proc.name} not ready {timeout:.0f} s after its restart; last lines of {log_path}:\n"
                    f"{tail_lines(log_path)}"
                )
            time.sleep(0.2)
        return proc


def start_kafka(
    libs: Path,
    work_dir: Path,
    *,
    brokers: int = 1,
    timeout: float = START_TIMEOUT,
    log: Log = logger.info,
) -> LocalKafka:
    """Format storage and start the broker (or `brokers` nodes) in `work_dir`; return once it
    serves clients."""
    if brokers > 1:
        return start_kafka_cluster(libs, work_dir, brokers=brokers, timeout=timeout, log=log)
    java = java_executable()
    work_dir.mkdir(parents=True, exist_ok=True)
    (work_dir / "log4j.properties").write_text(LOG4J_PROPERTIES)
    log_opt = f"-Dlog4j.configuration=file:{work_dir / 'log4j.properties'}"
    classpath = f"{libs}/*"  # expanded by java itself
    props = work_dir / "server.properties"
    log_path = work_dir / "kafka.log"
    started = time.monotonic()

    def launch(ports: list[int]) -> ManagedProcess:
        port, controller_port = ports
        props.write_text(render_server_properties(port, controller_port, work_dir / "data"))
        _format_storage(java, log_opt, classpath, props, work_dir, new_cluster_id())
        return start_process(
            "kafka",
            [java, *BROKER_HEAP, *JVM_FLAGS, log_opt, "-cp", classpath, "kafka.Kafka", str(props)],
            log_path=log_path,
            cwd=work_dir,
        )

    def wait_ready(proc: ManagedProcess, ports: list[int]) -> None:
        _wait_ready([proc], [log_path], ports[:1], timeout)

    proc, (port, _) = start_on_free_ports(
        "kafka", ports=2, log_path=log_path, launch=launch, wait_ready=wait_ready, log=log
    )
    bootstrap = f"127.0.0.1:{port}"
    log(
        f"kafka {kafka_version()} ready at {bootstrap} in {time.monotonic() - started:.1f} s "
        f"(pid {proc.pid}, log {log_path})"
    )
    return LocalKafka(bootstrap, [proc], work_dir)


def start_kafka_cluster(
    libs: Path,
    work_dir: Path,
    *,
    brokers: int = 3,
    timeout: float = START_TIMEOUT,
    log: Log = logger.info,
) -> LocalKafka:
    """`brokers` combined broker+controller nodes, every one a voter of the KRaft quorum, each
    in `work_dir/node<N>` (its own data dir, server.properties and kafka.log), all formatted
    with one cluster id. They are started together (a node only reports itself started once a
    quorum has elected a leader), and a port clash in any of them restarts all on new ports."""
    java = java_executable()
    work_dir.mkdir(parents=True, exist_ok=True)
    (work_dir / "log4j.properties").write_text(LOG4J_PROPERTIES)
    log_opt = f"-Dlog4j.configuration=file:{work_dir / 'log4j.properties'}"
    classpath = f"{libs}/*"
    nodes = [work_dir / f"node{node_id}" for node_id in range(1, brokers + 1)]
    log_paths = [node / "kafka.log" for node in nodes]
    cluster_id = new_cluster_id()
    started = time.monotonic()

    def launch(ports: list[int]) -> list[ManagedProcess]:
        clients, controllers = ports[:brokers], ports[brokers:]
        voters = ",".join(f"{i}@127.0.0.1:{port}" for i, port in enumerate(controllers, start=1))
        for node_id, (node, port, controller_port) in enumerate(
            zip(nodes, clients, controllers, strict=True), 1
        ):
            node.mkdir(parents=True, exist_ok=True)
            text = render_server_properties(
                port, controller_port, node / "data", node_id=node_id, voters=voters, brokers=brokers
            )
            (node / "server.properties").write_text(text)
        # one JVM per format: in parallel, they are a good part of the start-up time
        with ThreadPoolExecutor(max_workers=brokers, thread_name_prefix="kafka-format") as pool:
            formats = [
                pool.submit(
                    _format_storage, java, log_opt, classpath, node / "server.properties", node, cluster_id
                )
                for node in nodes
            ]
            for future in formats:
                future.result()
        group: list[ManagedProcess] = []
        try:
            for node_id, node in enumerate(nodes, 1):
                argv = [java, *CLUSTER_BROKER_HEAP, *JVM_FLAGS, log_opt, "-cp", classpath, "kafka.Kafka"]
                group.append(
                    start_process(
                        f"kafka-{node_id}",
                        [*argv, str(node / "server.properties")],
                        log_path=node / "kafka.log",
                        cwd=node,
                    )
                )
        except BaseException:
            stop_group(group)
            raise
        return group

    def wait_ready(group: list[ManagedProcess], ports: list[int]) -> None:
        _wait_ready(group, log_paths, ports[:brokers], timeout)

    group, ports = start_group_on_free_ports(
        "kafka cluster",
        ports=2 * brokers,
        log_paths=log_paths,
        launch=launch,
        wait_ready=wait_ready,
        log=log,
    )
    bootstrap = ",".join(f"127.0.0.1:{port}" for port in ports[:brokers])
    log(
        f"kafka {kafka_version()} cluster of {brokers} ready at {bootstrap} in "
        f"{time.monotonic() - started:.1f} s (pids {', '.join(str(p.pid) for p in group)}, "
        f"logs {work_dir}/node*/kafka.log)"
    )
    return LocalKafka(bootstrap, group, work_dir)


def _format_storage(
    java: str, log_opt: str, classpath: str, props: Path, work_dir: Path, cluster_id: str
) -> None:
    argv = [
        java,
        *TOOL_HEAP,
        *JVM_FLAGS,
        log_opt,
        "-cp",
        classpath,
        "kafka.tools.StorageTool",
        "format",
        "--ignore-formatted",
        "-t",
        cluster_id,
        "-c",
        str(props),
    ]
    format_log = work_dir / "format.log"
    with open(format_log, "wb") as out:
        try:
            result = subprocess.run(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=work_dir,
                timeout=120,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise DevstackError(f"kafka storage format timed out:\n{tail_lines(format_log)}") from exc
    if result.returncode != 0:
        raise DevstackError(
            f"kafka storage format failed (exit {result.returncode}):\n{tail_lines(format_log)}\n\n"
            f"{HOW_TO_GET_SERVERS}"
        )


def _wait_ready(group: list[ManagedProcess], log_paths: list[Path], ports: list[int], timeout: float) -> None:
    """Wait until every node has logged its start and listens; any node exiting ends the wait."""
    deadline = time.monotonic() + timeout
    pending = list(range(len(group)))
    while True:
        for index, (proc, log_path) in enumerate(zip(group, log_paths, strict=True)):
            check_still_running(proc.name, proc, log_path)  # all of them, ready or not
            if index in pending and READY_LINE in _read(log_path) and tcp_open("127.0.0.1", ports[index]):
                pending.remove(index)
        if not pending:
            break
        if time.monotonic() > deadline:
            waiting = log_paths[pending[0]]
            raise DevstackError(
                f"{group[pending[0]].name} not ready after {timeout:.0f} s; last lines of {waiting}:\n"
                f"{tail_lines(waiting)}"
            )
        time.sleep(0.2)
    bootstrap = ",".join(f"127.0.0.1:{port}" for port in ports)
    verify_with_aiokafka(bootstrap, brokers=len(group), timeout=max(5.0, deadline - time.monotonic()))


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError:
        return b""


def verify_with_aiokafka(bootstrap: str, *, brokers: int = 1, timeout: float = 30.0) -> None:
    """Bootstrap an aiokafka admin client and describe the cluster (in a private event loop):
    it must report `brokers` brokers."""
    errors: list[BaseException] = []
    deadline = time.monotonic() + max(1.0, timeout - 1.0)  # before wait_for's, to say what lacks

    async def probe() -> None:
        from aiokafka.admin import AIOKafkaAdminClient
        from aiokafka.errors import KafkaError

        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=int(timeout * 1000))
        await admin.start()
        try:
            # A node that logged its start may not be in every node's metadata yet, or not take
            # requests yet (NodeNotReadyError): ask again until the deadline.
            while True:
                try:
                    cluster = await admin.describe_cluster()
                except KafkaError:
                    if time.monotonic() > deadline:
                        raise
                else:
                    if len(cluster.get("brokers") or []) >= brokers:
                        return
                    if time.monotonic() > deadline:
                        raise DevstackError(
                            f"kafka at {bootstrap} reports fewer than {brokers} brokers: {cluster}"
                        )
                await asyncio.sleep(0.2)
        finally:
            await admin.close()

    def runner() -> None:  # own thread: works even if the caller already runs an event loop
        try:
            asyncio.run(asyncio.wait_for(probe(), timeout))
        except BaseException as exc:  # handed to the calling thread below
            errors.append(exc)

    thread = threading.Thread(target=runner, name="devstack-aiokafka-probe", daemon=True)
    thread.start()
    thread.join(timeout + 5.0)
    if thread.is_alive():
        raise DevstackError(f"aiokafka probe of {bootstrap} hung for {timeout:.0f} s")
    if errors:
        raise DevstackError(f"kafka at {bootstrap} started but aiokafka cannot use it: {errors[0]!r}")
