"""Working the desk from the CLI: the queue, show, ack, resolve, status, problems."""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime

import numpy as np
from typer.testing import CliRunner

from sentinel.cli import app
from sentinel.model import Alert, AlertStatus, Placement
from sentinel.store import Store
from sentinel.tickets import Desk, DeskSettings

cli = CliRunner()


def seed(state) -> None:
    desk = Desk(Store(state / "sentinel.db"), DeskSettings())
    for n, (severity, tier) in enumerate([("info", 3), ("critical", 1), ("warning", 2)]):
        labels = {"alertname": f"Check{n}", "severity": severity, "service": f"svc{n}"}
        fired = Alert(labels, {"summary": f"svc{n} broken"}, AlertStatus.FIRING, n)
        desk.open_incident(fired, [f"svc{n}"], [tier], (), "default", now=1000.0 + n)


def invoke(*args: str, state=None):
    extra = ["--state", str(state)] if state is not None else []
    return cli.invoke(app, [*args, *extra], env={"COLUMNS": "200"})


def test_help_lists_the_desk_commands():
    result = invoke("--help")
    for command in ("run", "incidents", "ack", "resolve", "problems", "status", "check-config"):
        assert command in result.output


def test_queue_is_priority_then_age_and_filters(tmp_path):
    seed(tmp_path)
    listed = json.loads(invoke("incidents", "--json", state=tmp_path).output)
    assert [(i["id"], i["priority"]) for i in listed] == [(2, "P1"), (3, "P3"), (1, "P5")]
    p1 = json.loads(invoke("incidents", "--json", "--priority", "P1", state=tmp_path).output)
    assert [i["id"] for i in p1] == [2]
    table = invoke("incidents", state=tmp_path).output
    assert table.index("svc1 broken") < table.index("svc2 broken") < table.index("svc0 broken")
    typo = invoke("incidents", "--priority", "P9", state=tmp_path)
    assert typo.exit_code == 2 and "'P9' is not one of" in typo.output


def test_a_long_queue_says_how_much_is_not_listed(tmp_path, monkeypatch):
    seed(tmp_path)
    monkeypatch.setattr("sentinel.cli.desk.LISTED", 2)
    table = invoke("incidents", state=tmp_path).output
    assert "svc1 broken" in table and "svc0 broken" not in table
    assert "the first 2 of 3" in table


def test_a_storm_incident_lists_a_few_services_and_shows_them_all(tmp_path):
    seed(tmp_path)
    services = ("api", "db", "edge", "svc1", "web")
    Store(tmp_path / "sentinel.db").update_incident(2, services=services)
    table = invoke("incidents", state=tmp_path).output
    assert "api, db, edge +2 more" in table and "web" not in table
    shown = invoke("incidents", "show", "2", state=tmp_path).output
    assert "services api, db, edge, svc1, web" in shown


def test_the_queue_shows_an_incident_shrink_as_its_alerts_resolve(tmp_path):
    """A database and the web tier calling it fail; the database recovers first: the queue
    counts what still fires, and ``show`` names the services still failing."""
    desk = Desk(Store(tmp_path / "sentinel.db"), DeskSettings())
    db, web = (
        Alert({"alertname": "Down", "service": s}, {}, AlertStatus.FIRING, 0) for s in ("db", "web")
    )
    incident = desk.open_incident(db, ["db"], [2], (), "default", now=1.0, node="db")
    desk.attach(incident, [Placement(web, "web")], ["db", "web"], [2, 2], (), now=2.0)
    assert "2 of 2" in invoke("incidents", state=tmp_path).output
    ended = Alert(db.labels, {}, AlertStatus.RESOLVED, 0, 3.0)
    desk.alerts_resolved([ended], now=3.0)
    assert "1 of 2" in invoke("incidents", state=tmp_path).output
    shown = invoke("incidents", "show", str(incident.id), state=tmp_path).output
    assert "alerts: 1 of 2 firing on web" in shown
    assert "Down on db resolved" in shown


def test_an_incident_of_thousands_of_services_names_a_few_unless_asked_for_all(tmp_path):
    """A storm on a service thousands depend on: ``show`` names the first services and how
    many more, so the root cause and its evidence stay on the first screen."""
    seed(tmp_path)
    services = tuple(sorted(f"svc-{n:04}" for n in range(2000)))
    Store(tmp_path / "sentinel.db").update_incident(2, services=services)
    shown = invoke("incidents", "show", "2", state=tmp_path).output
    assert "svc-0019 and 1,980 more (--all for every one)" in shown and "svc-0020" not in shown
    every = invoke("incidents", "show", "2", "--all", state=tmp_path).output
    assert "svc-1999" in every and "more (--all" not in every


def test_an_incident_with_a_long_history_shows_what_fires_and_what_happened_last(tmp_path):
    """Instances flapping for days leave thousands of alerts and entries in one incident:
    ``show`` leads with what fires, then the latest, and says how much it left out."""
    desk = Desk(Store(tmp_path / "sentinel.db"), DeskSettings())

    def api(n: int, status=AlertStatus.FIRING) -> Alert:
        labels = {"alertname": "Down", "service": "api", "instance": f"api-{n}"}
        return Alert(labels, {"summary": f"api-{n} down"}, status, n, n + 0.5)

    db = Alert(
        {"alertname": "Down", "service": "db"}, {"summary": "db down"}, AlertStatus.FIRING, 0
    )
    incident = desk.open_incident(db, ["db"], [2], (), "default", now=1.0, node="db")
    flapped = [Placement(api(n), "api") for n in range(1, 80)]
    desk.attach(incident, flapped, ["api", "db"], [2, 2], (), now=2.0)
    desk.alerts_resolved([api(n, AlertStatus.RESOLVED) for n in range(1, 79)], now=90.0)
    shown = invoke("incidents", "show", str(incident.id), state=tmp_path).output
    assert "alerts: 2 of 80 firing on api, db" in shown
    assert "50 of 80: the firing ones first, then the latest resolved" in shown
    assert shown.index("db down") < shown.index("api-79 down") < shown.index("api-78 down")
    assert "api-31 down" in shown and "api-30 down" not in shown
    assert "the latest 50 of 81" in shown and "Down on api resolved" in shown
    every = invoke("incidents", "show", str(incident.id), "--all", state=tmp_path).output
    assert "api-1 down" in every and "of 80:" not in every and "the latest" not in every


def test_ack_then_resolve_moves_the_incident_through_its_states(tmp_path):
    seed(tmp_path)
    assert "now acknowledged" in invoke("ack", "2", "--by", "alice", state=tmp_path).output
    assert invoke("ack", "2", state=tmp_path).exit_code == 1
    resolved = invoke("resolve", "2", "--reason", "restarted db", state=tmp_path)
    assert "now resolved" in resolved.output
    shown = invoke("incidents", "show", "2", state=tmp_path).output
    assert "alice" in shown and "restarted db" in shown
    still_open = json.loads(invoke("incidents", "--json", state=tmp_path).output)
    assert [i["id"] for i in still_open] == [3, 1]


def test_unknown_incident_is_a_clear_error(tmp_path):
    result = invoke("ack", "42", state=tmp_path)
    assert result.exit_code == 1 and "no incident 42" in result.output


def test_status_reports_an_unreachable_daemon_and_open_counts(tmp_path):
    seed(tmp_path)
    result = invoke("status", "--url", "http://127.0.0.1:9", state=tmp_path)
    assert result.exit_code == 0
    assert "not reachable" in result.output
    assert "P1" in result.output and "outbox: 0 pending" in result.output


def test_problems_list_is_empty_before_any_recurrence(tmp_path):
    assert "no problem records yet" in invoke("problems", state=tmp_path).output


def test_check_config_masks_secrets(tmp_path):
    (tmp_path / "desk.yaml").write_text(
        "escalation_policies:\n  - name: default\n    levels:\n"
        "      - notify: ['json://ops:hunter2@127.0.0.1:8080/hook']\n"
    )
    result = invoke("check-config", str(tmp_path))
    assert result.exit_code == 0, result.output
    assert "json://ops:****@127.0.0.1:8080/hook" in result.output
    assert "hunter2" not in result.output


def write_series(path, values, start=1_400_000_000, step=300, iso=False):
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = ["timestamp,value"]
    for i, value in enumerate(values):
        ts = start + i * step
        stamp = datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S") if iso else ts
        rows.append(f"{stamp},{value}")
    path.write_text("\n".join(rows) + "\n")


def test_backtest_writes_scores_and_alerts_beside_the_layout(tmp_path):
    rng = np.random.default_rng(5)
    spiky = 20 + rng.normal(0, 1, 1200)
    spiky[900] = 60
    write_series(tmp_path / "in" / "a" / "spiky.csv", spiky, iso=True)
    write_series(tmp_path / "in" / "calm.csv", 20 + rng.normal(0, 1, 1200))
    result = invoke("backtest", str(tmp_path / "in"), "--out", str(tmp_path / "out"))
    assert result.exit_code == 0, result.output
    assert "total" in result.output
    with (tmp_path / "out" / "a" / "spiky.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == ["timestamp", "value", "score", "alert"]
    assert rows[0]["timestamp"].startswith("2014-")  # written as it was read
    assert [i for i, row in enumerate(rows) if row["alert"] == "1"] == [900]
    assert all(0.0 <= float(row["score"]) <= 1.0 for row in rows)
    with (tmp_path / "out" / "calm.csv").open() as handle:
        assert len(list(csv.DictReader(handle))) == 1200


def test_backtest_scores_no_onset_while_its_alert_fires(tmp_path):
    """A spike on top of a lasting shift pages no one (the shift's alert fires): its score is
    written as 0, so ``alert`` is 1 exactly where ``score`` reaches the rule's threshold."""
    rng = np.random.default_rng(5)
    values = 20 + rng.normal(0, 1, 1200)
    values[900:960] += 8
    values[930] += 40
    write_series(tmp_path / "in" / "shifted.csv", values)
    result = invoke("backtest", str(tmp_path / "in"), "--out", str(tmp_path / "out"))
    assert result.exit_code == 0, result.output
    with (tmp_path / "out" / "shifted.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert [i for i, row in enumerate(rows) if row["alert"] == "1"] == [900]
    assert float(rows[930]["score"]) == 0.0
    threshold = 0.5  # the embedded default rule's
    assert all((float(row["score"]) >= threshold) == (row["alert"] == "1") for row in rows)


def test_backtest_names_the_bad_line_and_exits_2(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("timestamp,value\n1400000000,1\n1400000300,lots\n")
    result = invoke("backtest", str(bad), "--out", str(tmp_path / "out"))
    assert result.exit_code == 2
    assert f"{bad}:3:" in result.output.replace("\n", "")
    assert not (tmp_path / "out").exists()


def test_lifecycle_resolve_reopen_close(tmp_path):
    seed(tmp_path)
    assert "is now resolved" in invoke("resolve", "2", "--reason", "fixed", state=tmp_path).output
    reopened = invoke("reopen", "2", "--reason", "still failing", state=tmp_path)
    assert reopened.exit_code == 0 and "is now open" in reopened.output
    invoke("resolve", "2", state=tmp_path)
    assert "is now closed" in invoke("close", "2", state=tmp_path).output
    again = invoke("reopen", "2", "--reason", "x", state=tmp_path)
    assert again.exit_code == 1 and "is closed, not resolved" in again.output
    assert invoke("resolve", "2", state=tmp_path).exit_code == 1
    assert invoke("close", "1", state=tmp_path).exit_code == 1  # still open
    timeline = Store(tmp_path / "sentinel.db").timeline(2)
    lifecycle = [e.kind for e in timeline if e.kind in ("resolved", "reopened", "closed")]
    assert lifecycle == ["resolved", "reopened", "resolved", "closed"]


def test_resolved_incidents_close_after_the_quiet_period(tmp_path):
    store = Store(tmp_path / "sentinel.db")
    desk = Desk(store, DeskSettings())
    alert = Alert({"alertname": "Down", "service": "db"}, {}, AlertStatus.FIRING, 0)
    incident = desk.open_incident(alert, ["db"], [1], (), "default", now=0)
    desk.resolve(incident.id, "alice", now=100)
    desk.tick(now=100 + 86399)
    assert store.incident(incident.id).status == "resolved"
    desk.tick(now=100 + 86400)
    assert store.incident(incident.id).status == "closed"


def test_check_config_lists_teams_and_sinks_without_secrets(tmp_path):
    from tests.conftest import write_rules

    write_rules(
        tmp_path,
        teams=[{"name": "dba", "notify": ["json://u:hunter2@127.0.0.1:9/dba"]}],
        escalation_policies=[{"name": "oncall", "levels": [{"notify": ["team:dba"]}]}],
        sinks=[
            {
                "name": "pager",
                "kind": "pagerduty",
                "routing_key": "0123456789abcdef0123456789abcdef",
                "events": ["opened"],
            }
        ],
    )
    result = invoke("check-config", str(tmp_path))
    assert result.exit_code == 0, result.output
    assert "oncall level 1: team:dba" in result.output
    assert "team dba: 1 URL(s)" in result.output
    assert "sink pager: pagerduty, events opened" in result.output
    assert "hunter2" not in result.output and "0123456789abcdef" not in result.output
