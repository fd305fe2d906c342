"""Real services from Debian packages, started on 127.0.0.1 by the tests and stopped after.

Where a binary is missing a test is skipped with the package to install, except under
CI=true, where a missing binary fails the run: CI installs them all.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from tests.helpers.daemon import free_port
from tests.helpers.wait import wait_until

PLUGINS = Path("/usr/lib/nagios/plugins")


def require(binary: str, package: str) -> str:
    found = shutil.which(binary) or (binary if Path(binary).is_file() else None)
    if found:
        return found
    message = f"{binary} not found: apt-get install {package}"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


def http_ok(url: str) -> Callable[[], bool]:
    def check() -> bool:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return response.status == 200
        except OSError:
            return False

    return check


class Service:
    """A child process with its output in a log file, ready once ``ready()`` says so."""

    def __init__(self, argv: Sequence[str], log: Path, ready: Callable[[], bool]) -> None:
        self.argv, self.log, self.ready = list(argv), log, ready
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Service:
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(self.argv, stdout=log, stderr=subprocess.STDOUT)

        def up() -> bool:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise AssertionError(f"{self.argv[0]} exited:\n{self.log.read_text()[-2000:]}")
            return self.ready()

        wait_until(up, timeout=60, what=f"{self.argv[0]} to be ready")
        return self

    def __exit__(self, *exc: object) -> None:
        assert self.proc is not None
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def node_exporter(tmp: Path) -> tuple[Service, str]:
    binary = require("prometheus-node-exporter", "prometheus-node-exporter")
    port = free_port()
    url = f"http://127.0.0.1:{port}/metrics"
    argv = [binary, f"--web.listen-address=127.0.0.1:{port}"]
    return Service(argv, tmp / "node_exporter.log", http_ok(url)), url


def prometheus(tmp: Path, scrape: str, extra_config: str = "") -> tuple[Service, str]:
    """Prometheus scraping ``scrape`` (host:port) every second as job "node"."""
    binary = require("prometheus", "prometheus")
    port = free_port()
    config = tmp / "prometheus.yml"
    config.write_text(
        "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
        f"scrape_configs:\n  - job_name: node\n    static_configs: [{{targets: ['{scrape}']}}]\n"
        + extra_config
    )
    base = f"http://127.0.0.1:{port}"
    argv = [
        binary,
        f"--config.file={config}",
        f"--storage.tsdb.path={tmp / 'tsdb'}",
        f"--web.listen-address=127.0.0.1:{port}",
    ]
    return Service(argv, tmp / "prometheus.log", http_ok(f"{base}/-/ready")), base


def dnsmasq(tmp: Path, records: dict[str, str]) -> tuple[Service, int]:
    """An authoritative-only resolver on 127.0.0.1 answering ``records`` (name → IPv4)."""
    binary = require("dnsmasq", "dnsmasq-base")
    port = free_port()
    argv = [
        binary,
        "--keep-in-foreground",
        "--conf-file=/dev/null",
        f"--port={port}",
        "--listen-address=127.0.0.1",
        "--bind-interfaces",
        "--no-resolv",
        "--no-hosts",
        "--user=root",
        "--pid-file=",
        *(f"--address=/{n}/{ip}" for n, ip in records.items()),
    ]

    def answers() -> bool:
        import dns.exception
        import dns.resolver

        resolver = dns.resolver.Resolver(configure=False)
        resolver.nameservers, resolver.port, resolver.lifetime = ["127.0.0.1"], port, 1
        try:
            resolver.resolve(next(iter(records)), "A")
        except dns.exception.DNSException:
            return False
        return True

    return Service(argv, tmp / "dnsmasq.log", answers), port


def plugin(name: str) -> str:
    return require(str(PLUGINS / name), "monitoring-plugins-basic")


def alertmanager(tmp: Path, webhook_url: str, token: str) -> tuple[Service, str]:
    """A real Alertmanager routing everything at once to a webhook (sentinel's receiver)."""
    binary = require("prometheus-alertmanager", "prometheus-alertmanager")
    port = free_port()
    config = tmp / "alertmanager.yml"
    config.write_text(
        "route:\n  receiver: sentinel\n  group_by: ['...']\n  group_wait: 0s\n"
        "  group_interval: 1s\n  repeat_interval: 1h\n"
        "receivers:\n  - name: sentinel\n    webhook_configs:\n"
        f"      - url: '{webhook_url}'\n        send_resolved: true\n"
        f"        http_config:\n          authorization:\n            credentials: '{token}'\n"
    )
    base = f"http://127.0.0.1:{port}"
    argv = [
        binary,
        f"--config.file={config}",
        f"--storage.path={tmp / 'am-data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--cluster.listen-address=",
    ]
    return Service(argv, tmp / "alertmanager.log", http_ok(f"{base}/-/ready")), base


RT_SERVER = "/usr/share/request-tracker5/libexec/rt-server"
RT_DATABASE = Path("/var/lib/dbconfig-common/sqlite3/request-tracker5/rtdb")


def request_tracker(tmp: Path) -> tuple[Service, str]:
    """Request Tracker 5 on a copy of the database Debian's package initialised (user root,
    password "password"), with a site configuration of its own instead of /etc's."""
    binary = require(RT_SERVER, "request-tracker5 rt5-db-sqlite rt5-standalone")
    if not RT_DATABASE.is_file():
        message = f"{RT_DATABASE} missing: apt-get install rt5-db-sqlite"
        pytest.fail(message) if os.environ.get("CI") == "true" else pytest.skip(message)
    port = free_port()
    tmp.mkdir(parents=True, exist_ok=True)
    database = tmp / "rtdb"
    shutil.copyfile(RT_DATABASE, database)
    (tmp / "site.d").mkdir()
    site = tmp / "RT_SiteConfig.pm"
    site.write_text(
        "Set($DatabaseType, 'SQLite');\n"
        f"Set($DatabaseName, '{database}');\n"
        "Set($rtname, 'sentinel-test');\n"
        "Set($WebDomain, '127.0.0.1');\n"
        f"Set($WebPort, {port});\n"
        "Set($WebPath, '');\n"
        f"Set($WebBaseURL, 'http://127.0.0.1:{port}');\n"
        "Set($LogToSTDERR, 'warning');\n1;\n"
    )
    argv = [
        "env",
        f"RT_SITE_CONFIG={site}",
        f"RT_SITE_CONFIG_DIR={tmp / 'site.d'}",
        binary,
        "--listen",
        f"127.0.0.1:{port}",
    ]
    base = f"http://127.0.0.1:{port}"
    return Service(argv, tmp / "rt.log", http_ok(f"{base}/")), base
