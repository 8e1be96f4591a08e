"""Unit tests for `devstack run`: the restart backoff, the supervisor's restarts, the
WORKERS/GATEWAYS/LB expansion, and the nginx config it renders."""

from __future__ import annotations

import io
import sys
import time
from pathlib import Path

import pytest

from devstack import nginx, procs
from devstack.__main__ import _run_plan, build_parser, main
from devstack.errors import DevstackError
from devstack.restart import Backoff, RestartPolicy
from devstack.supervise import Printer, ProcSpec, Supervisor
from devstack.topology import Topology, parse_lb
from tests.clocks import FakeClock

pytestmark = pytest.mark.unit


def test_restart_delays_double_from_half_a_second_up_to_the_cap() -> None:
    policy = RestartPolicy()
    assert [policy.delay(n) for n in range(1, 10)] == [0.5, 1, 2, 4, 8, 16, 30, 30, 30]
    assert policy.delay(100_000) == 30  # a child crashing for days: no overflow, still capped
    with pytest.raises(ValueError):
        policy.delay(0)
    for bad in ({"initial": 0}, {"factor": 0.5}, {"cap": 0.1}, {"reset_after": 0}):
        with pytest.raises(ValueError):
            RestartPolicy(**bad)  # type: ignore[arg-type]


def test_backoff_grows_while_crashing_and_resets_after_a_long_enough_run() -> None:
    backoff = Backoff(RestartPolicy(initial=0.5, factor=2, cap=30, reset_after=60))
    assert [backoff.crashed(uptime=1.0) for _ in range(4)] == [0.5, 1, 2, 4]
    assert backoff.crashes == 4
    assert backoff.crashed(uptime=59.9) == 8  # not quite healthy
    assert backoff.crashed(uptime=60.0) == 0.5  # stayed up a minute: back to the start
    assert backoff.crashed(uptime=0.1) == 1
    assert backoff.crashes == 2


def _wait_exit(supervisor: Supervisor, index: int) -> None:
    proc = supervisor.children[index].proc
    assert proc is not None
    deadline = time.monotonic() + 10
    while proc.poll() is None:
        assert time.monotonic() < deadline, "child did not exit"
        time.sleep(0.02)


def test_supervisor_restarts_an_exited_child_only_after_its_backoff(tmp_path: Path) -> None:
    """Real child processes, an injected clock: the backoff is checked without waiting it out."""
    marker = tmp_path / "ran-once"
    code = (
        f"import os, sys, time; p = {str(marker)!r}\n"
        "if not os.path.exists(p): open(p, 'w').close(); sys.exit(3)\n"
        "time.sleep(60)"
    )
    out = io.StringIO()
    clock = FakeClock(1000.0)
    spec = ProcSpec("crashy", [sys.executable, "-c", code], {"EXTRA": "1"})
    supervisor = Supervisor([spec], {}, Printer(out, ["crashy", "devstack"]), RestartPolicy(), clock)
    child = supervisor.children[0]
    try:
        supervisor.start(child)
        _wait_exit(supervisor, 0)
        clock.now += 2.0
        assert supervisor.check(child) is None  # not the end: a restart is scheduled
        assert child.restart_at == clock.now + 0.5
        assert supervisor.running() == []
        assert (
            "crashy exited with code 3 after 2.0 s; restarting in 0.5 s (crash 1 in a row)" in out.getvalue()
        )
        clock.now += 0.4
        supervisor.check(child)
        assert child.starts == 1  # still backing off
        clock.now += 0.1
        supervisor.check(child)
        assert child.starts == 2 and child.restart_at is None
        assert "started crashy (restart 1)" in out.getvalue()
        assert "EXTRA=1" in out.getvalue()
        (running,) = supervisor.running()
        time.sleep(0.3)
        assert running.poll() is None  # the second run stays up
        assert supervisor.check(child) is None
    finally:
        supervisor.close()
    assert all(p.poll() is not None for p in supervisor.running())
    assert not any(p.name == "crashy" for p in procs.running())


def test_supervisor_without_restart_reports_the_exit_code() -> None:
    out = io.StringIO()
    spec = ProcSpec("quitter", [sys.executable, "-c", "import sys; sys.exit(5)"])
    supervisor = Supervisor([spec], {}, Printer(out, ["quitter"]), restart=None)
    try:
        supervisor.start(supervisor.children[0])
        _wait_exit(supervisor, 0)
        assert supervisor.check(supervisor.children[0]) == 5
        assert "quitter exited with code 5; stopping everything" in out.getvalue()
    finally:
        supervisor.close()


def test_parse_lb() -> None:
    assert parse_lb("auto") is None
    assert all(parse_lb(v) is True for v in ("1", "yes", "ON", "true"))
    assert all(parse_lb(v) is False for v in ("0", "no", "off", "False"))
    with pytest.raises(ValueError, match="expected auto, 1 or 0"):
        parse_lb("maybe")


def test_one_worker_and_one_gateway_on_port_without_nginx() -> None:
    plan = Topology(workers=1, gateways=1, port=3000).expand(["w"], ["g"])
    assert [(s.name, s.argv, s.env) for s in plan.specs] == [
        ("worker-1", ["w"], {"METRICS_PORT": "3100"}),
        ("gateway-1", ["g"], {"PORT": "3000", "HOST": "0.0.0.0"}),
    ]
    assert plan.nginx is None
    assert plan.ready_urls == ["http://127.0.0.1:3000/readyz"]


def test_several_gateways_get_nginx_on_port_and_the_next_ports_on_loopback() -> None:
    plan = Topology(workers=2, gateways=3, port=3000).expand(["w"], ["g", "--x"])
    assert [s.name for s in plan.specs] == ["worker-1", "worker-2", "gateway-1", "gateway-2", "gateway-3"]
    assert [s.env for s in plan.specs[:2]] == [{"METRICS_PORT": "3100"}, {"METRICS_PORT": "3101"}]
    gateways = plan.specs[2:]
    assert [s.env for s in gateways] == [{"PORT": str(p), "HOST": "127.0.0.1"} for p in (3001, 3002, 3003)]
    assert all(s.argv == ["g", "--x"] for s in gateways)
    assert plan.nginx == nginx.NginxSite(
        "0.0.0.0", 3000, (("127.0.0.1", 3001), ("127.0.0.1", 3002), ("127.0.0.1", 3003))
    )
    # every gateway must answer, then nginx, whose line comes last
    assert plan.ready_urls == [f"http://127.0.0.1:{p}/readyz" for p in (3001, 3002, 3003, 3000)]


def test_lb_can_be_forced_on_or_off() -> None:
    off = Topology(workers=0, gateways=2, port=4000, lb=False).expand(["w"], ["g"])
    assert off.nginx is None and [s.env["PORT"] for s in off.specs] == ["4000", "4001"]
    on = Topology(workers=1, gateways=1, port=4000, lb=True, listen_host="127.0.0.1").expand(["w"], ["g"])
    assert on.nginx == nginx.NginxSite("127.0.0.1", 4000, (("127.0.0.1", 4001),))


def test_bad_topologies_are_refused() -> None:
    with pytest.raises(ValueError, match="0 or more"):
        Topology(workers=-1, gateways=1, port=3000)
    with pytest.raises(ValueError, match="at least one gateway"):
        Topology(workers=1, gateways=0, port=3000, lb=True)
    with pytest.raises(ValueError, match="not all valid TCP ports"):
        Topology(workers=1, gateways=2, port=65535)  # nginx on 65535, gateways above it
    with pytest.raises(ValueError, match="not all valid TCP ports"):
        Topology(workers=1, gateways=1, port=0)


def test_cli_expands_workers_and_gateways_and_adds_procs() -> None:
    args = build_parser().parse_args(
        ["run", "--workers", "2", "--gateways", "2", "--port", "5000", "--proc", "extra=sleep 1"]
    )
    specs, ready, site = _run_plan(args)
    assert [s.name for s in specs] == ["worker-1", "worker-2", "gateway-1", "gateway-2", "extra"]
    assert specs[0].argv == [sys.executable, "-m", "runtime", "worker"]  # `python` = this interpreter
    assert specs[2].argv == [sys.executable, "-m", "gateway"]
    assert site is not None and site.listen_port == 5000
    assert ready[-1] == "http://127.0.0.1:5000/readyz"


def test_cli_run_refuses_bad_input_before_starting_anything(capsys: pytest.CaptureFixture[str]) -> None:
    before = procs.running()
    assert main(["run"]) == 2
    assert "nothing to run" in capsys.readouterr().err
    assert main(["run", "--gateways", "1", "--lb", "perhaps"]) == 2
    assert "expected auto, 1 or 0" in capsys.readouterr().err
    assert main(["run", "--proc", "a=sleep 1", "--proc", "a=sleep 2"]) == 2
    assert "unique" in capsys.readouterr().err
    assert procs.running() == before


def test_nginx_config_is_sticky_proxies_websockets_and_leaves_cors_to_the_gateways(tmp_path: Path) -> None:
    site = nginx.NginxSite("0.0.0.0", 3000, (("127.0.0.1", 3001), ("127.0.0.1", 3002)))
    text = nginx.render(site, tmp_path)
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]
    assert "@" not in "".join(lines)  # every placeholder filled
    assert "listen 3000;" in lines
    assert "hash $remote_addr consistent;" in lines
    assert "server 127.0.0.1:3001 max_fails=1 fail_timeout=2s;" in lines
    assert "server 127.0.0.1:3002 max_fails=1 fail_timeout=2s;" in lines
    for directive in (
        "proxy_http_version 1.1;",
        "proxy_set_header Upgrade $http_upgrade;",
        "proxy_set_header Connection $connection_upgrade;",
        "proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;",
        "proxy_set_header Host $http_host;",
        "proxy_read_timeout 1h;",
        "proxy_buffering off;",
    ):
        assert directive in lines, directive
    assert not any(line.startswith("add_header") for line in lines)  # no second CORS header
    assert f"pid {tmp_path}/nginx.pid;" in lines
    assert f"proxy_temp_path {tmp_path}/tmp/proxy;" in lines
    assert "daemon" not in text  # given on the command line: -g 'daemon off;'
    ipv6 = nginx.render(nginx.NginxSite("::1", 80, (("::1", 81),)), tmp_path)
    assert "listen [::1]:80;" in ipv6 and "server [::1]:81 " in ipv6
    with pytest.raises(ValueError, match="unknown placeholders"):
        nginx.render(site, tmp_path, template="listen @LISTEN@; @TYPO@")
    with pytest.raises(ValueError):
        nginx.NginxSite("0.0.0.0", 3000, ())


def test_missing_nginx_says_which_make_target_installs_it(tmp_path: Path) -> None:
    with pytest.raises(DevstackError, match="make lb-deps"):
        nginx.find_nginx({"PATH": str(tmp_path)}, fallbacks=[str(tmp_path / "nginx")])
    fake = tmp_path / "sbin" / "nginx"
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\n")
    fake.chmod(0o755)
    assert nginx.find_nginx({"PATH": str(tmp_path)}, fallbacks=[str(fake)]) == str(fake)
    assert nginx.find_nginx({"PATH": str(fake.parent)}, fallbacks=[]) == str(fake)
