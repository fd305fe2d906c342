"""The state file: schema versioning and refusing a newer schema, what it remembers of the
firing alerts, and one daemon per state directory."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys

import pytest

from sentinel.daemon import StateInUse, hold_state
from sentinel.model import Alert, AlertStatus, Incident, IncidentStatus, Placement, Ticket
from sentinel.silences import Matcher, Silence
from sentinel.store import MIGRATIONS, Store, StoreError
from tests.helpers.steps import vm_steps


def test_new_file_gets_the_latest_schema_and_reopens_unchanged(tmp_path):
    store = Store(tmp_path / "s.db")
    assert store.schema_version == len(MIGRATIONS)
    store.set_meta("k", "v")
    store.close()
    again = Store(tmp_path / "s.db")
    assert again.schema_version == len(MIGRATIONS) and again.get_meta("k") == "v"


def test_state_from_a_newer_sentinel_is_refused_not_clobbered(tmp_path):
    path = tmp_path / "s.db"
    Store(path).close()
    with sqlite3.connect(path) as db:
        db.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    with pytest.raises(StoreError, match="upgrade sentinel"):
        Store(path)


def test_dedup_key_queues_a_delivery_once(tmp_path):
    store = Store(tmp_path / "s.db")
    args = dict(
        incident_id=None,
        event="opened",
        target="json://127.0.0.1:1/x",
        title="t",
        body="b",
        notify_type="info",
        now=0.0,
    )
    assert store.enqueue(dedup_key="k1", **args) is True
    assert store.enqueue(dedup_key="k1", **args) is False
    assert len(store.outbox()) == 1


def test_failed_transaction_leaves_nothing_behind(tmp_path):
    store = Store(tmp_path / "s.db")
    with pytest.raises(RuntimeError), store.transaction():
        store.set_meta("half", "done")
        raise RuntimeError("crash in the middle")
    assert store.get_meta("half") is None


def test_state_file_is_private_to_its_owner(tmp_path):
    Store(tmp_path / "state" / "s.db").close()
    assert (tmp_path / "state" / "s.db").stat().st_mode & 0o077 == 0
    assert (tmp_path / "state").stat().st_mode & 0o077 == 0


def _firing(service: str, ends_at: float) -> Placement:
    labels = {"alertname": "Down", "service": service}
    return Placement(Alert(labels, {}, AlertStatus.FIRING, 0.0, ends_at), service)


def _incident(store: Store) -> int:
    return store.add_incident(
        Incident(0, "t", IncidentStatus.OPEN, "P3", 3, 3, ("db",), (), "default", 0.0, 0.0)
    )


def test_expiry_is_found_after_reopening_and_a_refresh_moves_it(tmp_path):
    store = Store(tmp_path / "s.db")
    with store.transaction():
        incident = _incident(store)
        store.add_alerts(incident, [_firing("db", 100.0), _firing("api", 200.0)], 0.0)
    store.close()
    store = Store(tmp_path / "s.db")  # what fires is read from the file, not remembered
    later = _firing("db", 0.0).alert.replace(ends_at=300.0)
    with store.transaction():
        assert store.refresh_alerts([later], 50.0) == []  # firing: refreshed, not new
    assert store.expired_alerts(99.0) == []
    assert [a.labels["service"] for a in store.expired_alerts(250.0)] == ["api"]
    assert [a.ends_at for a in store.expired_alerts(300.0)] == [200.0, 300.0]


def test_alerts_resolved_by_another_process_are_new_again_and_never_expire(tmp_path):
    store = Store(tmp_path / "s.db")
    with store.transaction():
        incident = _incident(store)
        store.add_alerts(incident, [_firing("db", 100.0), _firing("api", 100.0)], 0.0)
    cli = Store(tmp_path / "s.db")  # as `sentinel incidents resolve` does, in its own process
    with cli.transaction():
        resolved = cli.resolve_incident_alerts(incident, 10.0, 10.0)
    assert sorted(resolved) == sorted(_firing(s, 0.0).alert.fingerprint for s in ("db", "api"))
    again = _firing("db", 200.0).alert
    with store.transaction():
        assert store.refresh_alerts([again], 20.0) == [again]
    assert store.expired_alerts(150.0) == []  # api: resolved already, and forgotten
    assert store.firing_alerts() == []


def test_a_rolled_back_insert_is_not_remembered_as_firing(tmp_path):
    store = Store(tmp_path / "s.db")
    with store.transaction():
        incident = _incident(store)
    with pytest.raises(RuntimeError), store.transaction():
        store.add_alerts(incident, [_firing("db", 100.0)], 0.0)
        raise RuntimeError("a later step failed")
    alert = _firing("db", 100.0).alert
    with store.transaction():
        assert store.refresh_alerts([alert], 1.0) == [alert]
        store.add_alerts(incident, [Placement(alert, "db")], 1.0)  # no duplicate firing row
    assert store.expired_alerts(100.0) == [alert]


def test_alert_rows_are_numbered_by_asking_once_a_transaction(tmp_path):
    """A batch writes alerts to several incidents: the last row id is asked for once, and
    asked again in the next transaction, where another process may have written first."""
    store, asked = Store(tmp_path / "s.db"), []
    store._db.set_trace_callback(lambda sql: asked.append(sql) if "max(id)" in sql else None)
    with store.transaction():
        incident = _incident(store)
        for service in ("db", "api", "web"):
            store.add_alerts(incident, [_firing(service, 100.0)], 0.0)
    assert len(asked) == 1
    cli = Store(tmp_path / "s.db")
    with cli.transaction():
        cli.add_alerts(incident, [_firing("cache", 100.0)], 0.0)
    with store.transaction():
        store.add_alerts(incident, [_firing("queue", 100.0), _firing("edge", 100.0)], 0.0)
    assert len(asked) == 2
    rows = store._db.execute("SELECT id, node FROM alerts ORDER BY id").fetchall()
    assert [tuple(r) for r in rows] == list(
        enumerate(["db", "api", "web", "cache", "queue", "edge"], start=1)
    )


def test_a_fingerprint_fires_in_one_row_only(tmp_path):
    store = Store(tmp_path / "s.db")
    with store.transaction():
        incident = _incident(store)
        store.add_alerts(incident, [_firing("db", 100.0)], 0.0)
    for twice in ([_firing("db", 200.0)], [_firing("api", 1.0), _firing("api", 2.0)]):
        with pytest.raises(sqlite3.IntegrityError, match="already firing"), store.transaction():
            store.add_alerts(incident, twice, 1.0)
    assert [a.ends_at for a in store.firing_alerts()] == [100.0]
    assert store.firing_alert_incident(_firing("db", 0.0).alert.fingerprint) == incident


def test_a_recent_resolution_is_found_without_reading_the_history(tmp_path):
    """Each new incident asks whether its alert's last incident resolved moments ago: the
    answer must not cost a walk through every incident ever resolved."""
    store = Store(tmp_path / "s.db")

    def resolved_incident(service: str, at: float) -> int:
        incident = _incident(store)
        store.add_alerts(incident, [_firing(service, at)], at)
        store.resolve_incident_alerts(incident, at, at)
        store.update_incident(incident, status=IncidentStatus.RESOLVED, resolved_at=at)
        return incident

    with store.transaction():
        for number in range(2000):
            resolved_incident(f"old-{number}", float(number))
        recent = resolved_incident("db", 5000.0)
    db = _firing("db", 0.0).alert.fingerprint
    old = _firing("old-7", 0.0).alert.fingerprint
    steps = vm_steps(
        store,
        lambda: [store.recently_resolved_incident(f, since=4900.0) for f in (db, old)],
    )
    assert store.recently_resolved_incident(db, since=4900.0) == recent
    assert store.recently_resolved_incident(old, since=4900.0) is None
    assert steps < 20  # under 2,000 virtual machine steps: not one per old incident


def _file_of_version(path, version: int) -> sqlite3.Connection:
    """A store file as a sentinel of schema ``version`` left it, holding one open incident."""
    db = sqlite3.connect(path)
    for number, script in enumerate(MIGRATIONS[:version], start=1):
        db.executescript(script)
        db.execute(f"PRAGMA user_version = {number}")
    db.execute(
        "INSERT INTO incidents (title, status, priority, impact, urgency, services, "
        "root_causes, policy, created_at, updated_at) "
        "VALUES ('t', 'open', 'P3', 3, 3, '[\"db\"]', '[]', 'default', 0, 0)"
    )
    return db


def test_open_incidents_are_read_without_a_pass_over_every_alert_they_ever_held(tmp_path):
    """Each batch reads the open incidents with their services' times: an incident kept
    open for days by flapping instances must not make that read grow with its history."""
    store = Store(tmp_path / "s.db")
    with store.transaction():
        incident = _incident(store)
        store.add_alerts(incident, [_firing("db", 100.0)], 0.0)
        for flap in range(2000):
            store.add_alerts(incident, [_firing("api", 100.0 + flap)], float(flap))
            store.resolve_alerts([(_firing("api", 0.0).alert.fingerprint, flap + 0.5)], flap)
    steps = vm_steps(store, store.open_incidents)
    [read] = store.open_incidents()
    assert read.onsets == {"db": 0.0, "api": 0.0} and read.healed == {"api": 1999.5}
    assert steps < 20  # under 2,000 virtual machine steps: not one per alert row


def test_what_batches_and_ticks_read_does_not_grow_with_the_stores_history(tmp_path):
    """A year of incidents stays in the store, closed, with their tickets, pages and
    expired silences: placing an alert, the desk's tick (SLA deadlines), telling whoever
    an incident paged and checking silences read what is worked, not all of that."""
    store = Store(tmp_path / "s.db")

    def history(incidents: int) -> None:
        with store.transaction():
            for n in range(incidents):
                done = Incident(
                    0, "t", IncidentStatus.CLOSED, "P3", 3, 3, ("db",), (), "default", n, n
                )
                closed = store.add_incident(done)
                store.add_ticket(Ticket(0, closed, "desk", n + 900.0, n + 3600.0))
                store.enqueue(
                    dedup_key=f"page {closed}", incident_id=closed, event="opened",
                    target="json://127.0.0.1:9", title="t", body="b", notify_type="failure",
                    now=n,
                )  # fmt: skip
                matcher = Matcher("service", "=", "db")
                store.save_silence(Silence(f"s{closed}", (matcher,), n, n + 60.0, "a", "", n))

    with store.transaction():
        worked = _incident(store)
        store.add_ticket(Ticket(0, worked, "desk", 900.0, 3600.0))
    reads = (
        store.open_incidents,
        lambda: store.sla_due(10_000.0),
        lambda: store.outbox(worked),
        lambda: store.active_silences(10_000.0),
    )
    history(10)
    short = [vm_steps(store, read) for read in reads]
    history(3000)
    long = [vm_steps(store, read) for read in reads]
    assert [len(r()) for r in reads] == [1, 1, 0, 0]
    grown = [after - before for before, after in zip(short, long, strict=True)]
    assert max(grown) <= 2, (short, long)


def test_an_events_api_key_is_found_among_its_own_alerts_not_by_a_pass_over_all_firing(
    tmp_path,
):
    """A storm sent through the events API is one event per alert, each looking up its
    dedup key: that must not read every firing alert, nor find one another source raised
    with a label of that name."""
    store = Store(tmp_path / "s.db")

    def firing(source: str, count: int, start: int) -> None:
        with store.transaction():
            incident = _incident(store)
            placed = [
                Placement(
                    Alert({"dedup_key": f"k{n}", "service": "db"}, {}, AlertStatus.FIRING, 0.0)
                    .replace(source=source),
                    "db",
                )
                for n in range(start, start + count)
            ]  # fmt: skip
            store.add_alerts(incident, placed, 0.0)

    firing("pagerduty-events", 1, 0)
    firing("alertmanager", 10, 1)
    short = vm_steps(store, lambda: store.firing_event("k0"))
    firing("alertmanager", 3000, 11)
    firing("pagerduty-events", 1000, 3011)
    long = vm_steps(store, lambda: store.firing_event("k0"))
    assert store.firing_event("k0") is not None and store.firing_event("k4010") is not None
    assert store.firing_event("k5") is None  # an Alertmanager alert's label, not a key
    assert long <= short + 2, (short, long)


def test_a_file_from_before_services_times_were_kept_counts_them_on_upgrade(tmp_path):
    path = tmp_path / "s.db"
    with _file_of_version(path, len(MIGRATIONS) - 1) as db:  # before ``incident_services``
        for fingerprint, status, starts_at, ends_at, node in (
            ("a", "resolved", 5, 20, "db"),
            ("b", "resolved", 3, 9, "db"),
            ("c", "firing", 7, 300, "api"),
        ):
            db.execute(
                "INSERT INTO alerts (fingerprint, incident_id, labels, annotations, status, "
                "starts_at, ends_at, source, score, updated_at, node) "
                "VALUES (?, 1, '{}', '{}', ?, ?, ?, 'rule', 1, 0, ?)",
                (fingerprint, status, starts_at, ends_at, node),
            )
    store = Store(path)
    [read] = store.open_incidents()
    assert read.onsets == {"db": 3.0, "api": 7.0} and read.healed == {"db": 20.0}


def test_a_file_from_before_row_ids_were_remembered_upgrades_with_its_firing_alerts(tmp_path):
    path = tmp_path / "s.db"
    alert = _firing("db", 100.0).alert
    with _file_of_version(path, 9) as db:  # one alert firing
        db.execute(
            "INSERT INTO alerts (fingerprint, incident_id, labels, annotations, status, "
            "starts_at, ends_at, source, score, updated_at, node) "
            "VALUES (?, 1, ?, '{}', 'firing', 0, 100, 'rule', 1, 0, 'db')",
            (alert.fingerprint, json.dumps(dict(alert.labels))),
        )
    store = Store(path)
    assert store.schema_version == len(MIGRATIONS)
    with store.transaction():
        assert store.refresh_alerts([alert.replace(ends_at=300.0)], 50.0) == []
    assert store.expired_alerts(200.0) == []
    assert [a.fingerprint for a in store.expired_alerts(300.0)] == [alert.fingerprint]
    with store.transaction():
        assert store.resolve_incident_alerts(1, 300.0, 300.0) == [alert.fingerprint]
    assert store.firing_alerts() == []


def test_one_daemon_per_state_directory(tmp_path):
    held = hold_state(tmp_path)
    try:
        with pytest.raises(StateInUse, match=f"pid {os.getpid()}"):
            hold_state(tmp_path)
        started = subprocess.run(
            [sys.executable, "-m", "sentinel", "run", "--state", str(tmp_path)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert started.returncode == 1
        assert f"another sentinel (pid {os.getpid()}) is running" in started.stderr
    finally:
        held.close()
    hold_state(tmp_path).close()  # free once its holder let go
