"""nginx in front of the gateways: find the binary, render the config, run it unprivileged.

nginx runs in the foreground (`daemon off;`) as an ordinary child of whoever starts it, with its
pid file, temp dirs and access log under one prefix directory: no root, nothing in /var.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from devstack import procs
from devstack.errors import DevstackError
from devstack.procs import ManagedProcess

TEMPLATE = Path(__file__).resolve().parent / "nginx" / "streamproc.conf.template"
INSTALL_HINT = "run `make lb-deps` (as root it does apt-get install nginx-light), or install nginx"
_PLACEHOLDER = re.compile(r"@[A-Z_]+@")
# Debian puts nginx in /usr/sbin, which is not on an ordinary user's PATH.
FALLBACK_PATHS = ("/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/local/nginx/sbin/nginx")


@dataclass(frozen=True)
class NginxSite:
    """nginx listening on listen_host:listen_port in front of `upstreams` (host, port)."""

    listen_host: str
    listen_port: int
    upstreams: tuple[tuple[str, int], ...]

    def __post_init__(self) -> None:
        if not self.upstreams:
            raise ValueError("nginx needs at least one gateway behind it")


def find_nginx(env: Mapping[str, str] | None = None, fallbacks: Sequence[str] = FALLBACK_PATHS) -> str:
    """The nginx binary: on PATH, else Debian's /usr/sbin; DevstackError saying how to get it."""
    env = os.environ if env is None else env
    found = shutil.which("nginx", path=env.get("PATH", ""))
    if found:
        return found
    for candidate in fallbacks:
        if os.access(candidate, os.X_OK):
            return candidate
    raise DevstackError(f"nginx is not installed: {INSTALL_HINT}")


def _listen(host: str, port: int) -> str:
    if host in ("", "0.0.0.0", "*"):
        return str(port)
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def render(site: NginxSite, prefix: Path, template: str | None = None) -> str:
    """The config text for `site` with every path under `prefix`."""
    text = TEMPLATE.read_text(encoding="utf-8") if template is None else template
    servers = "\n".join(
        # max_fails/fail_timeout: a crashed gateway (restarting under devstack) is skipped for
        # 2 s instead of taking a share of the requests; its clients re-hash to another gateway.
        f"        server {_listen(host, port)} max_fails=1 fail_timeout=2s;"
        for host, port in site.upstreams
    )
    values = {
        "@PREFIX@": str(prefix),
        "@LISTEN@": _listen(site.listen_host, site.listen_port),
        "@UPSTREAM_SERVERS@": servers,
    }
    rendered = _PLACEHOLDER.sub(lambda m: values.get(m.group(0), m.group(0)), text)
    left = sorted(set(_PLACEHOLDER.findall(rendered)))
    if left:
        raise ValueError(f"nginx template has unknown placeholders: {left}")
    return rendered


def prepare(site: NginxSite, prefix: Path, *, binary: str | None = None) -> list[str]:
    """Write the config under `prefix`, check it with `nginx -t`; return the command to run it."""
    nginx = binary or find_nginx()
    prefix = prefix.absolute()
    (prefix / "tmp").mkdir(parents=True, exist_ok=True)
    # Started as root, nginx's workers run as `nobody`: they must be able to reach the prefix.
    prefix.chmod(0o755)
    (prefix / "tmp").chmod(0o755)
    conf = prefix / "nginx.conf"
    conf.write_text(render(site, prefix), encoding="utf-8")
    base = [nginx, "-c", str(conf), "-p", f"{prefix}/"]
    check = subprocess.run(
        [*base, "-t", "-q", "-g", "daemon off;"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=30,
        check=False,
    )
    if check.returncode != 0:
        raise DevstackError(f"nginx rejected {conf}:\n{check.stdout.strip()}")
    return [*base, "-g", "daemon off;"]


def start_nginx(
    site: NginxSite, prefix: Path, *, timeout: float = 15.0, binary: str | None = None
) -> ManagedProcess:
    """Run nginx for `site` (output in prefix/nginx.log) and wait until it accepts connections."""
    argv = prepare(site, prefix, binary=binary)
    proc = procs.start_process("nginx", argv, log_path=prefix / "nginx.log")
    host = "127.0.0.1" if site.listen_host in ("", "0.0.0.0", "*") else site.listen_host
    deadline = time.monotonic() + timeout
    while not procs.tcp_open(host, site.listen_port, timeout=0.2):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.stop()
            log = (prefix / "nginx.log").read_text(errors="replace")
            raise DevstackError(f"nginx did not start on port {site.listen_port}:\n{log[-2000:]}")
        time.sleep(0.05)
    return proc
