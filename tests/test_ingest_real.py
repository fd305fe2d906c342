"""sentinel as a drop-in Alertmanager, against the real tools: Prometheus sends its alerts,
amtool drives alerts and silences, and a real Alertmanager forwards its webhook."""

from __future__ import annotations

import subprocess

import pytest

from tests.conftest import write_rules
from tests.helpers import processes
from tests.helpers.daemon import DaemonProcess, free_port
from tests.helpers.wait import wait_until


@pytest.fixture
def sentinel(tmp_path):
    rules = write_rules(
        tmp_path / "rules", server={"tick": "200ms"}, services=[{"name": "db", "tier": 1}]
    )
    with DaemonProcess(rules, tmp_path / "state") as daemon:
        daemon.token = (tmp_path / "state" / "token").read_text().strip()
        yield daemon


def incidents(daemon) -> list[dict]:
    import json
    import urllib.request

    url = f"http://127.0.0.1:{daemon.port}/api/v1/incidents?status=open"
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.load(response)["incidents"]


def amtool(tmp_path, url: str, token: str | None, *args: str) -> str:
    binary = processes.require("amtool", "prometheus-alertmanager")
    options = [f"--alertmanager.url={url}"]
    if token:
        http_config = tmp_path / "amtool-http.yml"
        http_config.write_text(f"authorization:\n  credentials: '{token}'\n")
        options.append(f"--http.config.file={http_config}")
    result = subprocess.run([binary, *options, *args], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_token_file_is_generated_private(sentinel, tmp_path):
    token_file = tmp_path / "state" / "token"
    assert len(sentinel.token) >= 32
    assert token_file.stat().st_mode & 0o077 == 0


def test_amtool_drives_alerts_and_silences(sentinel, tmp_path):
    url = f"http://127.0.0.1:{sentinel.port}"
    amtool(
        tmp_path,
        url,
        sentinel.token,
        "alert",
        "add",
        "alertname=DbDown",
        "service=db",
        "severity=critical",
        "--annotation=summary=db is down",
    )
    listed = amtool(tmp_path, url, None, "alert", "query")
    assert "DbDown" in listed
    assert [i["title"] for i in wait_until(lambda: incidents(sentinel), what="incident")] == [
        "db is down"
    ]

    silence_id = amtool(
        tmp_path,
        url,
        sentinel.token,
        "silence",
        "add",
        "service=db",
        "--comment=db maintenance",
        "--duration=1h",
    ).strip()
    assert silence_id in amtool(tmp_path, url, None, "silence", "query")
    assert "DbDown" not in amtool(tmp_path, url, None, "alert", "query")  # now silenced
    amtool(tmp_path, url, sentinel.token, "silence", "expire", silence_id)
    assert silence_id not in amtool(tmp_path, url, None, "silence", "query")
    expired = amtool(tmp_path, url, None, "silence", "query", "--expired")
    assert silence_id in expired


def test_amtool_without_token_is_refused(sentinel, tmp_path):
    binary = processes.require("amtool", "prometheus-alertmanager")
    result = subprocess.run(
        [
            binary,
            f"--alertmanager.url=http://127.0.0.1:{sentinel.port}",
            "alert",
            "add",
            "alertname=Nope",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert incidents(sentinel) == []


def test_prometheus_sends_its_firing_alert(sentinel, tmp_path):
    rules_file = tmp_path / "alerts.yml"
    rules_file.write_text(
        "groups:\n  - name: test\n    rules:\n      - alert: ExporterDown\n"
        '        expr: up{job="node"} == 0\n        labels: {severity: critical, service: db}\n'
        "        annotations: {summary: 'exporter {{ $labels.instance }} is down'}\n"
    )
    alerting = (
        f"rule_files: ['{rules_file}']\n"
        "alerting:\n  alertmanagers:\n    - api_version: v2\n"
        f"      authorization: {{credentials: '{sentinel.token}'}}\n"
        f"      static_configs: [{{targets: ['127.0.0.1:{sentinel.port}']}}]\n"
    )
    dead_target = f"127.0.0.1:{free_port()}"  # nothing listens: up == 0
    service, _ = processes.prometheus(tmp_path, dead_target, alerting)
    with service:
        [incident] = wait_until(lambda: incidents(sentinel), timeout=60, what="incident")
    assert incident["title"] == f"exporter {dead_target} is down"
    assert incident["priority"] == "P1" and incident["services"] == ["db"]


def test_prometheus_alerts_on_a_database_and_its_caller_are_one_incident(tmp_path):
    """Live grouping from a real Prometheus: the database's exporter is down and the API
    that depends on it errs; one incident holds both and names the database its cause."""
    rules = write_rules(
        tmp_path / "rules",
        server={"tick": "200ms"},
        services=[{"name": "db", "tier": 1}, {"name": "api", "depends_on": ["db"]}],
    )
    rules_file = tmp_path / "alerts.yml"
    rules_file.write_text(
        "groups:\n  - name: test\n    rules:\n"
        "      - alert: ExporterDown\n"
        '        expr: up{job="node"} == 0\n        labels: {severity: critical, service: db}\n'
        "        annotations: {summary: 'database exporter down'}\n"
        # The API's errors follow the database's failure (and Prometheus has found its
        # Alertmanager by then: what fires before that waits for the next resend, a minute).
        "      - alert: ApiErrors\n"
        '        expr: up{job="node"} == 0\n        for: 2s\n'
        "        labels: {severity: warning, service: api}\n"
        "        annotations: {summary: 'api answers 5xx'}\n"
    )
    with DaemonProcess(rules, tmp_path / "state") as daemon:
        token = (tmp_path / "state" / "token").read_text().strip()
        alerting = (
            f"rule_files: ['{rules_file}']\n"
            "alerting:\n  alertmanagers:\n    - api_version: v2\n"
            f"      authorization: {{credentials: '{token}'}}\n"
            f"      static_configs: [{{targets: ['127.0.0.1:{daemon.port}']}}]\n"
        )
        service, _ = processes.prometheus(tmp_path, f"127.0.0.1:{free_port()}", alerting)
        with service:
            [incident] = wait_until(
                lambda: [i for i in incidents(daemon) if len(i["services"]) == 2],
                timeout=60,
                what="one incident on both services",
            )
        assert len(incidents(daemon)) == 1
    assert incident["services"] == ["api", "db"]
    assert incident["root_causes"][0]["node"] == "db"


def test_alertmanager_forwards_to_the_webhook_receiver(sentinel, tmp_path):
    webhook = f"http://127.0.0.1:{sentinel.port}/api/v1/webhook/alertmanager"
    service, am_url = processes.alertmanager(tmp_path, webhook, sentinel.token)
    with service:
        amtool(
            tmp_path,
            am_url,
            None,
            "alert",
            "add",
            "alertname=QueueStuck",
            "service=db",
            "--annotation=summary=queue stuck",
        )
        [incident] = wait_until(lambda: incidents(sentinel), timeout=60, what="forwarded alert")
    assert incident["title"] == "queue stuck"


def test_daemon_serves_https_when_given_a_certificate(tmp_path):
    from tests.helpers.servers import self_signed_certificate

    cert, key = self_signed_certificate(tmp_path)
    rules = write_rules(tmp_path / "rules", server={"tls_cert": cert, "tls_key": key})
    with DaemonProcess(rules, tmp_path / "state", tls_ca=cert) as daemon:
        assert daemon.healthy()["status"] == "ok"
