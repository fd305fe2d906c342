"""`sentinel report`: desk KPIs computed from a real store, in every format."""

from __future__ import annotations

import csv
import io
import json
import time

from sentinel.model import Alert, AlertStatus, RootCause
from sentinel.store import Store
from sentinel.tickets import Desk, DeskSettings, EscalationPolicyConfig, LevelConfig
from tests.test_cli import invoke

DAY = 86400.0


def seed(state) -> None:
    """Three incidents over three days: one clean, one escalated, one reopened."""
    policy = EscalationPolicyConfig(
        name="default",
        levels=[LevelConfig(notify=[], escalate_after=60), LevelConfig(notify=[])],
    )
    desk = Desk(Store(state / "sentinel.db"), DeskSettings(policies={"default": policy}))
    start = time.time() - 5 * DAY

    def fire(service: str, severity: str, at: float):
        labels = {"alertname": "Down", "severity": severity, "service": service}
        alert = Alert(labels, {"summary": f"{service} down"}, AlertStatus.FIRING, at)
        cause = (RootCause(service, 0.9, (), "Down"),)
        return desk.open_incident(alert, (service,), [1], cause, "default", now=at), alert

    clean, _ = fire("db", "critical", start)  # P1
    desk.acknowledge(clean.id, "alice", now=start + 300)
    desk.resolve(clean.id, "alice", now=start + 3600)

    escalated, _ = fire("api", "warning", start + DAY)  # P2
    desk.tick(now=start + DAY + 61)
    desk.acknowledge(escalated.id, "bob", now=start + DAY + 600)
    desk.resolve(escalated.id, "bob", now=start + DAY + 7200)

    flapping, alert = fire("db", "info", start + 2 * DAY)  # P3
    desk.resolve(flapping.id, "carol", now=start + 2 * DAY + 1800)
    desk.reopen(desk.store.incident(flapping.id), alert, now=start + 2 * DAY + 1900)


def test_kpis_as_json(tmp_path):
    seed(tmp_path)
    result = invoke("report", "--since", "30d", "--format", "json", state=tmp_path)
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    kpis = report["kpis"]
    assert kpis["incidents"] == 3
    assert kpis["mtta_seconds"] == 450  # (300 + 600) / 2
    assert kpis["mttr_seconds"] == 5400  # (3600 + 7200) / 2; the reopened one is open
    assert abs(kpis["escalation_rate"] - 1 / 3) < 1e-9
    assert kpis["resolved_without_escalation"] == 0.5
    assert abs(kpis["reopen_rate"] - 1 / 3) < 1e-9
    assert report["per_service"] == {"db": 2, "api": 1}
    assert report["top_causes"] == [["db/Down", 2], ["api/Down", 1]]
    assert report["by_priority"]["P1"]["sla_compliance"] == 1.0
    assert sum(report["per_day"].values()) == 3


def test_service_filter_and_period(tmp_path):
    seed(tmp_path)
    only_api = json.loads(
        invoke("report", "--service", "api", "--format", "json", state=tmp_path).output
    )
    assert only_api["kpis"]["incidents"] == 1
    recent = json.loads(
        invoke("report", "--since", "1d", "--format", "json", state=tmp_path).output
    )
    assert recent["kpis"]["incidents"] == 0
    assert invoke("report", "--since", "lately", state=tmp_path).exit_code == 2


def test_table_csv_html_and_plots(tmp_path):
    seed(tmp_path)
    table = invoke("report", state=tmp_path).output
    assert "MTTR" in table and "1.5 h" in table and "33.3%" in table
    rows = list(
        csv.DictReader(io.StringIO(invoke("report", "--format", "csv", state=tmp_path).output))
    )
    assert {"section": "kpi", "key": "mttr_seconds", "value": "5400"} in rows
    assert {"section": "volume_per_service", "key": "db", "value": "2"} in rows
    plots = tmp_path / "plots"
    page = invoke("report", "--format", "html", "--plots", str(plots), state=tmp_path).output
    assert page.startswith("<!doctype html>") and page.count("data:image/png;base64,") == 2
    for name in ("volume.png", "mttr.png"):
        assert (plots / name).read_bytes().startswith(b"\x89PNG")
