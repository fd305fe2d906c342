"""detect → correlate → desk on a real store: an alert storm becomes one incident."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Any

import pytest

from sentinel.model import Alert, AlertStatus, IncidentStatus
from sentinel.store import Store
from sentinel.tickets import Desk, DeskSettings
from tests.conftest import write_rules
from tests.helpers.api import Clock, make_daemon


def fire(service: str, at: float, name: str = "Down", **labels: str) -> Alert:
    labels = {"alertname": name, "severity": "critical", **labels}
    if service:
        labels["service"] = service
    return Alert(labels, {"summary": f"{service or name} broken"}, AlertStatus.FIRING, at)


def shop(tmp_path):
    rules = write_rules(
        tmp_path / "rules",
        services=[
            {"name": "frontend", "tier": 1, "depends_on": ["api"]},
            {"name": "api", "tier": 2, "depends_on": ["db"]},
            {"name": "db", "tier": 2},
            {"name": "reports", "tier": 3, "depends_on": ["warehouse"]},
            {"name": "warehouse", "tier": 3},
        ],
    )
    return make_daemon(tmp_path, rules, Clock(0))


def test_storm_on_a_dependency_chain_is_one_incident_blaming_the_database(tmp_path):
    daemon = shop(tmp_path)
    storm = [
        fire("frontend", 10),
        fire("api", 5, instance="a"),
        fire("api", 6, instance="b"),
        fire("db", 0),
    ]
    for n, alert in enumerate(storm):
        daemon.pipeline.alerts([alert], now=20 + n)
    [incident] = daemon.store.unresolved_incidents()
    assert incident.services == ("api", "db", "frontend")
    assert incident.root_causes[0].node == "db"
    assert incident.priority == "P1"  # frontend is tier 1: impact rises to 1
    outbox = daemon.store.outbox(incident.id)
    assert [r.event for r in outbox] == []  # default policy notifies no one; no second page

    for alert in storm:
        daemon.pipeline.alerts([alert.replace(status=AlertStatus.RESOLVED, ends_at=99)], 100)
    assert daemon.store.incident(incident.id).status == IncidentStatus.RESOLVED


def test_unrelated_parts_of_the_graph_get_their_own_incidents(tmp_path):
    daemon = shop(tmp_path)
    daemon.pipeline.alerts([fire("db", 0), fire("warehouse", 1)], now=2)
    causes = sorted(i.root_causes[0].node for i in daemon.store.unresolved_incidents())
    assert causes == ["db", "warehouse"]


def test_alerts_outside_the_topology_group_by_alertname_and_target(tmp_path):
    daemon = shop(tmp_path)
    daemon.pipeline.alerts(
        [
            fire("", 0, name="CertExpiry", target="web-1"),
            fire("", 1, name="CertExpiry", target="web-1", port="443"),
            fire("", 2, name="CertExpiry", target="web-2"),
        ],
        now=3,
    )
    assert len(daemon.store.unresolved_incidents()) == 2


def test_group_by_labels_group_only_alerts_outside_the_topology(tmp_path):
    """A service's incident takes what the graph relates to it, not whatever shares the
    alert's name and target; those group among themselves."""
    daemon = shop(tmp_path)
    daemon.pipeline.alerts([fire("db", 0, name="Down", target="db-1")], now=1)
    daemon.pipeline.alerts([fire("", 2, name="Down", target="db-1", port="1")], now=3)
    daemon.pipeline.alerts([fire("", 4, name="Down", target="db-1", port="2")], now=5)
    incidents = daemon.store.unresolved_incidents()
    assert sorted(daemon.store.count_incident_alerts(i.id) for i in incidents) == [1, 2]


def test_same_alert_again_refreshes_instead_of_reopening(tmp_path):
    daemon = shop(tmp_path)
    daemon.pipeline.alerts([fire("db", 0)], now=1)
    daemon.pipeline.alerts([fire("db", 0)], now=2)
    assert daemon.store.count("alerts") == 1 and daemon.store.count("incidents") == 1


def test_alert_firing_again_soon_after_resolution_reopens_its_incident(tmp_path):
    daemon = shop(tmp_path)
    down = fire("db", 0)
    daemon.pipeline.alerts([down], now=1)
    daemon.pipeline.alerts([down.replace(status=AlertStatus.RESOLVED, ends_at=50)], now=50)
    [incident] = daemon.store.incidents()
    assert incident.status == IncidentStatus.RESOLVED

    daemon.pipeline.alerts([down.replace(starts_at=80)], now=80)  # a flap: 30 s later
    [reopened] = daemon.store.incidents()
    assert reopened.id == incident.id and reopened.status == IncidentStatus.OPEN
    assert reopened.resolved_at is None and reopened.escalation_level == 0
    [entry] = [e for e in daemon.store.timeline(incident.id) if e.kind == "reopened"]
    assert entry.text == "Down fired again 30 s after resolution"

    daemon.pipeline.alerts([down.replace(status=AlertStatus.RESOLVED, ends_at=90)], now=90)
    daemon.pipeline.alerts([down.replace(starts_at=900)], now=900)  # past the window: new
    assert daemon.store.count("incidents") == 2


def test_an_alert_that_resolves_and_fires_again_within_one_batch_is_firing(tmp_path):
    daemon = shop(tmp_path)
    db = fire("db", 0)
    daemon.pipeline.alerts([db], now=1)
    [incident] = daemon.store.unresolved_incidents()

    resolved = db.replace(status=AlertStatus.RESOLVED, ends_at=30)
    daemon.pipeline.alerts([resolved, fire("db", 40)], now=45)  # a flap, sent together

    [firing] = daemon.store.firing_alerts()
    assert firing.fingerprint == db.fingerprint and firing.starts_at == 40
    [still] = daemon.store.unresolved_incidents()
    assert still.id == incident.id  # the flap reopened it, no second incident


def test_a_resolution_mid_batch_leaves_other_incidents_joining_correctly(tmp_path):
    daemon = shop(tmp_path)
    daemon.pipeline.alerts([fire("db", 0), fire("warehouse", 3)], now=10)
    by_root = {i.root_causes[0].node: i for i in daemon.store.unresolved_incidents()}
    database, warehouse = by_root["db"], by_root["warehouse"]

    # In the order things happened: api and frontend join, the warehouse's alert ends.
    ended = fire("warehouse", 3).replace(status=AlertStatus.RESOLVED, ends_at=19)
    daemon.pipeline.alerts([fire("frontend", 4), ended, fire("api", 2)], now=20)

    assert daemon.store.incident(warehouse.id).status == IncidentStatus.RESOLVED
    joined = daemon.store.incident(database.id)
    assert joined.status == IncidentStatus.OPEN
    assert joined.services == ("api", "db", "frontend")
    assert joined.root_causes[0].node == "db"
    assert {a.labels["service"] for a in daemon.store.firing_alerts(database.id)} == {
        "api",
        "db",
        "frontend",
    }


def test_a_resolution_mid_batch_writes_only_the_incidents_it_ends_alerts_in(tmp_path, monkeypatch):
    """A healed fault's alerts end between a storm's further instances: the storm's
    incident is written once, with all of them, and the incident that lost an alert but
    still fires is not read again when the next one joins it."""
    daemon = shop(tmp_path)
    one, two = fire("warehouse", 3, instance="w-1"), fire("warehouse", 3, instance="w-2")
    daemon.pipeline.alerts([fire("db", 0), one, two], now=10)
    by_root = {i.root_causes[0].node: i.id for i in daemon.store.unresolved_incidents()}
    written, read = [], []
    attach, incident = daemon.pipeline.desk.attach, daemon.store.incident
    monkeypatch.setattr(
        daemon.pipeline.desk, "attach", lambda i, *a: written.append(i.id) or attach(i, *a)
    )
    monkeypatch.setattr(daemon.store, "incident", lambda i: read.append(i) or incident(i))

    ended = two.replace(status=AlertStatus.RESOLVED, ends_at=12)
    storm = [fire("db", 11, instance="db-2"), fire("warehouse", 11, instance="w-3"), ended]
    more = [fire("db", 13, instance="db-3"), fire("warehouse", 14, instance="w-4")]
    daemon.pipeline.alerts([*storm, *more], now=20)

    # The warehouse's before its alert ends, and with what joins it later; the db's once.
    assert written.count(by_root["db"]) == 1 and written.count(by_root["warehouse"]) == 2
    assert read == []
    warehouse = {"w-1", "w-3", "w-4"}
    for node, instances in (("db", {None, "db-2", "db-3"}), ("warehouse", warehouse)):
        firing = daemon.store.firing_alerts(by_root[node])
        assert {a.labels.get("instance") for a in firing} == instances
    assert daemon.store.incident(by_root["warehouse"]).status == IncidentStatus.OPEN


def test_a_batch_is_handled_in_the_order_things_happened_not_the_order_alerts_began(
    tmp_path,
):
    """A resolution counts at its end: a symptom that began while its cause still fired
    joins the cause's incident, though the cause began earlier and ended in the same batch
    (a receiver catching up, or one transaction for a busy second's requests)."""
    daemon = shop(tmp_path)
    db = fire("db", 0)
    daemon.pipeline.alerts([db], now=1)
    [incident] = daemon.store.unresolved_incidents()

    healed = db.replace(status=AlertStatus.RESOLVED, ends_at=300)
    daemon.pipeline.alerts([healed, fire("api", 100)], now=400)

    [still] = daemon.store.unresolved_incidents()
    assert still.id == incident.id and still.services == ("api", "db")
    assert [a.labels["service"] for a in daemon.store.firing_alerts(incident.id)] == ["api"]


def test_a_batch_with_nothing_to_report_does_not_wait_on_another_writer(tmp_path):
    """Most polls change no alert: they must not queue behind a CLI command's transaction."""
    daemon = shop(tmp_path)
    other = sqlite3.connect(tmp_path / "sentinel.db", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # holds the write lock, as a long CLI command would
    try:
        daemon.pipeline.alerts([], 0.0)  # would block for the store's busy timeout, then fail
    finally:
        other.execute("ROLLBACK")
        other.close()
    daemon.pipeline.alerts([fire("db", 0.0)], 0.0)
    assert len(daemon.store.unresolved_incidents()) == 1


def test_the_stored_incident_is_ranked_on_every_statistic_of_each_series(tmp_path):
    """The API is slow at its median, then the database only at p99: a slower tail does
    not move a median, so the API is the suspect. When the API's p99 joins, ranking (read back
    from the store) sets it against the database's p99, which accounts for it."""
    daemon = shop(tmp_path)

    def slower(service: str, at: float, statistic: str, value: float, sigmas: float) -> Alert:
        labels = {"alertname": "Anomaly", "service": service, "metric": "latency"}
        annotations = {"value": str(value), "expected": "0.2", "sigmas": str(sigmas)}
        return Alert({**labels, "statistic": statistic}, annotations, AlertStatus.FIRING, at)

    daemon.pipeline.alerts([slower("api", 0, "p50", 0.9, 40)], now=1)
    daemon.pipeline.alerts([slower("db", 5, "p99", 1.2, 9)], now=6)
    [incident] = daemon.store.unresolved_incidents()
    assert [c.node for c in incident.root_causes] == ["api", "db"]
    assert any(
        "failing on other measures only" in line for line in incident.root_causes[0].evidence
    )
    daemon.pipeline.alerts([slower("api", 6, "p99", 1.0, 20)], now=7)
    incident = daemon.store.incident(incident.id)
    assert [c.node for c in incident.root_causes] == ["db", "api"]
    assert any(
        "db's deviation (Anomaly:latency p99 1, 9σ) explains 100% of api's" in line
        for line in incident.root_causes[1].evidence
    )


def _grouping_when_delivered(tmp_path, services, stream, late: bool):
    """The incidents (their services, the likeliest cause first) a stream of alerts ends up
    in: each alert sent a second after it began (or ended), or all in one batch much later."""
    rules = write_rules(tmp_path / "rules", services=services)
    daemon = make_daemon(tmp_path, rules, Clock(0))
    if late:
        daemon.pipeline.alerts(stream, now=max(a.starts_at for a in stream) + 3600)
    else:
        for alert in stream:
            daemon.pipeline.alerts([alert], now=(alert.ends_at or alert.starts_at) + 1)
    return sorted(
        (i.root_causes[0].node, i.services, i.status.value) for i in daemon.store.incidents()
    )


def test_alerts_group_alike_however_late_they_arrive(tmp_path):
    """Correlation goes by when alerts began, not when sentinel heard of them: a backlog
    delivered in one batch (a receiver catching up, a restart) groups as it did live. An
    edge three hops above a failing database is its symptom only if it began within the
    window of the database's trouble; of two incidents as near, an alert joins the one
    whose alerts began last; an alert firing again reopens its incident only if it began
    within the window of its last end."""
    chain = [
        {"name": "edge", "depends_on": ["frontend"]},
        {"name": "frontend", "depends_on": ["api"]},
        {"name": "api", "depends_on": ["db"]},
        {"name": "db"},
    ]
    cascade = [fire("db", 0), fire("api", 10), fire("frontend", 20), fire("edge", 30)]
    fork = [
        {"name": "x", "depends_on": ["left", "right"]},
        {"name": "left", "depends_on": ["a"]},
        {"name": "right", "depends_on": ["b"]},
        {"name": "a"},
        {"name": "b"},
    ]
    between = [fire("a", 0), fire("b", 50), fire("x", 60)]
    down = fire("db", 0)
    ended = [down.replace(status=AlertStatus.RESOLVED, ends_at=end) for end in (10, 30)]
    flaps = [down, ended[0], down.replace(starts_at=20), ended[1], down.replace(starts_at=2000)]
    for name, services, stream, expected in (
        ("chain", chain, cascade, [("db", ("api", "db", "edge", "frontend"), "open")]),
        ("fork", fork, between, [("a", ("a",), "open"), ("b", ("b", "x"), "open")]),
        ("flaps", chain, flaps, [("db", ("db",), "open"), ("db", ("db",), "resolved")]),
    ):
        live = _grouping_when_delivered(tmp_path / name / "live", services, stream, False)
        late = _grouping_when_delivered(tmp_path / name / "late", services, stream, True)
        assert live == late == expected, name


def test_an_incident_keeps_its_cause_when_the_cause_recovers_first(tmp_path):
    """The database comes back before the API that called it drains its errors: the
    incident still names the database, and so does its signature for problem records,
    even when another API alert joins after the database recovered."""
    daemon = shop(tmp_path)
    db, api = fire("db", 0), fire("api", 10)
    daemon.pipeline.alerts([db, api], now=11)
    [incident] = daemon.store.unresolved_incidents()
    assert incident.root_causes[0].node == "db"

    daemon.pipeline.alerts([db.replace(status=AlertStatus.RESOLVED, ends_at=100)], now=100)
    daemon.pipeline.alerts([fire("api", 110, name="Slow")], now=110)
    assert daemon.store.incident(incident.id).root_causes[0].node == "db"

    ended = [a.replace(status=AlertStatus.RESOLVED, ends_at=200) for a in (api,)]
    ended.append(fire("api", 110, name="Slow").replace(status=AlertStatus.RESOLVED, ends_at=200))
    daemon.pipeline.alerts(ended, now=200)
    resolved = daemon.store.incident(incident.id)
    assert resolved.status == IncidentStatus.RESOLVED and resolved.root_causes[0].node == "db"
    assert [i.id for i in daemon.store.resolved_with_signature("db/Down", 0)] == [incident.id]


def test_an_alert_on_what_depends_on_an_incidents_neighbour_joins_that_incident(tmp_path):
    """cache joins db's incident as its neighbour; worker, three hops from db, depends on
    cache: the open incidents are found by every service failing in them, not only by
    their likeliest cause, so worker's alert joins too instead of paging on its own."""
    rules = write_rules(
        tmp_path / "rules",
        services=[
            {"name": "api", "depends_on": ["db", "cache"]},
            {"name": "worker", "depends_on": ["cache"]},
            {"name": "db"},
            {"name": "cache"},
        ],
    )
    daemon = make_daemon(tmp_path, rules, Clock(0))
    for at, service in ((0, "db"), (60, "cache"), (80, "worker")):
        daemon.pipeline.alerts([fire(service, at)], now=at + 5)
    [incident] = daemon.store.unresolved_incidents()
    assert incident.services == ("cache", "db", "worker")


@pytest.mark.parametrize("together", [False, True], ids=["batch each", "one batch"])
def test_a_slow_cascade_is_one_incident_however_long_it_takes_to_climb(tmp_path, together):
    """Trouble climbs from db a hop every 110 s: edge fails 330 s after db, longer than
    ``window``, and three hops up, beyond ``max_distance``; but it follows the proxy it
    depends on promptly, so it is a symptom. An alert on edge that begins ``window``
    after the proxy's trouble began is trouble of its own."""
    daemon = _on(tmp_path, {"edge": "proxy", "proxy": "api", "api": "db", "db": None})
    cascade = [fire(s, at) for at, s in ((0, "db"), (110, "api"), (220, "proxy"), (330, "edge"))]
    late = fire("edge", 221 + daemon.config.correlation.window, name="Latency")
    _deliver(daemon, [*cascade, late], together)
    cascade_incident, late_incident = daemon.store.unresolved_incidents()
    assert cascade_incident.services == ("api", "db", "edge", "proxy")
    assert cascade_incident.root_causes[0].node == "db"
    assert late_incident.services == ("edge",)


@pytest.mark.parametrize("together", [False, True], ids=["batch each", "one batch"])
def test_a_healed_cause_takes_no_new_trouble_near_it(tmp_path, together):
    """db recovers at 100 while api still drains errors. jobs, which depends on db, fails
    50 s later: a symptom still draining, it joins. billing fails ten minutes later: db
    has been up all that while, so billing's trouble is its own and pages on its own
    (dependants are held back only while their dependency is down). A new alert on api,
    which still fails in the incident, joins that incident."""
    daemon = _on(tmp_path, {"api": "db", "jobs": "db", "billing": "db", "db": None})
    db = fire("db", 0)
    stream = [
        db,
        fire("api", 10),
        db.replace(status=AlertStatus.RESOLVED, ends_at=100),
        fire("jobs", 150),
        fire("billing", 700),
        fire("api", 701, name="Slow"),
    ]
    _deliver(daemon, stream, together)
    outage, billing = daemon.store.unresolved_incidents()
    assert outage.services == ("api", "db", "jobs") and outage.root_causes[0].node == "db"
    assert billing.services == ("billing",)


@pytest.mark.parametrize("together", [False, True], ids=["batch each", "one batch"])
def test_the_stored_ranking_reads_every_measure_though_not_every_one_reranks(tmp_path, together):
    """Rule after rule fires on services already in the incident: only those that change
    how ranking reads a service rank it again (db's critical Down outranks its warning,
    an earlier api instance moves api's onset), and the ranking stored at the end is the
    ranking of everything the incident holds."""
    daemon = _on(tmp_path, {"api": "db", "db": None})
    stream = [
        fire("db", 0, name="Slow", severity="warning"),
        fire("api", 5),
        *(fire("api", 6 + n, name=f"Rule{n}", severity="warning") for n in range(4)),
        fire("db", 20),  # critical: db's strongest alert now
        fire("db", 21, name="Latency", severity="warning"),
        fire("api", 3, name="Rule1", severity="warning", instance="b"),  # earliest of its rule
    ]
    _deliver(daemon, stream, together)
    [incident] = daemon.store.unresolved_incidents()
    held = [alert for _, alert in daemon.store.node_representatives(incident.id)]
    assert incident.root_causes == daemon.pipeline.correlator.rank(held)
    assert incident.root_causes[0].node == "db" and incident.root_causes[0].failure == "Down"
    assert "fired 3 s after db" in " ".join(incident.root_causes[1].evidence)


def _rankings_given(daemon, monkeypatch) -> tuple[list[int], Callable[..., Any]]:
    """Record how many alerts each ranking is given: from all the incident holds (as a
    count), or, answered, by what joined (negated); with the correlator's own ``rank``."""
    correlator, given = daemon.pipeline.correlator, []
    rank, rank_added = correlator.rank, correlator.rank_added

    def ranked(alerts, *args, **kwargs):
        given.append(len(alerts))
        return rank(alerts, *args, **kwargs)

    def added(kept_as, alerts, *args):  # None: ranked from all it holds next
        answered = rank_added(kept_as, alerts, *args)
        given.extend([-len(alerts)] if answered is not None else [])
        return answered

    monkeypatch.setattr(correlator, "rank", ranked)
    monkeypatch.setattr(correlator, "rank_added", added)
    return given, rank


@pytest.mark.parametrize("together", [False, True], ids=["batch each", "one batch"])
def test_a_wide_incident_ranks_each_join_by_what_joined_and_stores_the_ranking_of_all_it_holds(
    tmp_path, together, monkeypatch
):
    """dns fails and the sixty services that depend on it follow: one incident naming dns,
    whichever way they arrive. Each join is ranked as it comes, whether the batch holds
    one alert or all of them; once the incident is wide, by what joined, not by all it
    holds (ranking reads every service: a storm of thousands spent minutes ranking), and
    what it stores is the ranking of everything it holds."""
    monkeypatch.setattr("sentinel.pipeline.RANKING_KEPT_FROM", 20)
    daemon = _on(tmp_path, {"dns": None, **{f"svc-{n}": "dns" for n in range(60)}})
    given, rank = _rankings_given(daemon, monkeypatch)
    _deliver(daemon, [fire("dns", 0), *(fire(f"svc-{n}", 1 + n) for n in range(60))], together)
    [incident] = daemon.store.unresolved_incidents()
    assert len(incident.services) == 61 and incident.root_causes[0].node == "dns"
    held = [alert for _, alert in daemon.store.node_representatives(incident.id)]
    assert incident.root_causes == rank(held)
    # Opening, each join by all it holds up to 20 services, then each by the one joining.
    assert given == [*range(1, 21), *[-1] * 41]


@pytest.mark.parametrize("evaluation", [0, 15], ids=["onsets apart", "onsets shared"])
def test_a_wide_incident_hands_ranking_what_joined_not_all_it_holds(
    tmp_path, monkeypatch, evaluation
):
    """Three hundred services follow dns, ten a batch: once the incident is wide, each
    join's ranking is given the alert that joined, not the hundreds before it (listing
    them at each join, for the ranking to find the new one among, grew with the square
    of the storm), also where they began at the same rule evaluations, fifteen at a
    time, as Prometheus reports them; yet a further instance of dns that began earlier
    than what ranking read of it has everything ranked again."""
    monkeypatch.setattr("sentinel.pipeline.RANKING_KEPT_FROM", 20)
    daemon = _on(tmp_path, {"dns": None, **{f"svc-{n}": "dns" for n in range(300)}})
    given, rank = _rankings_given(daemon, monkeypatch)
    onsets = [1 + n - (1 + n) % evaluation if evaluation else 1 + n for n in range(300)]
    storm = [fire("dns", 0), *(fire(f"svc-{n}", at) for n, at in enumerate(onsets))]
    for start in range(0, len(storm), 10):
        batch = storm[start : start + 10]
        daemon.pipeline.alerts(batch, now=batch[-1].starts_at + 1)
    # Old: 5,131, the incident's size at each batch; 5,101 where they shared onsets.
    assert sum(map(abs, given)) < 2 * len(storm)
    earlier = fire("dns", -5, instance="dns-2")  # ranking reads each measure's earliest
    daemon.pipeline.alerts([earlier], now=401)
    assert given[-1] == 301  # all it holds, as from nothing
    [incident] = daemon.store.unresolved_incidents()
    held = [alert for _, alert in daemon.store.node_representatives(incident.id)]
    assert incident.root_causes == rank(held) and incident.root_causes[0].node == "dns"


def test_a_healing_storm_updates_the_view_of_its_incident_without_reading_it_again(
    tmp_path, monkeypatch
):
    """dns's three hundred dependants recover ten at a time while dns still fails: each run
    of resolutions tells placement which services healed from the store's counts of those
    services alone (reading the incident again read all its services, at every run), and
    what it knows is what reading it again would give. Once dns recovers, it resolves."""
    daemon = _on(tmp_path, {"dns": None, **{f"svc-{n}": "dns" for n in range(300)}})
    storm = [fire("dns", 0), *(fire(f"svc-{n}", 1 + n) for n in range(300))]
    for start in range(0, len(storm), 50):
        daemon.pipeline.alerts(storm[start : start + 50], now=400)
    [incident] = daemon.store.unresolved_incidents()
    pipeline, read = daemon.pipeline, []
    open_incidents = daemon.store.open_incidents
    monkeypatch.setattr(
        daemon.store, "open_incidents", lambda **k: read.append(k) or open_incidents(**k)
    )
    for start in range(1, len(storm), 10):
        ended = [
            a.replace(status=AlertStatus.RESOLVED, ends_at=500 + start)
            for a in storm[start : start + 10]
        ]
        pipeline.alerts(ended, now=600 + start)
        [fresh] = open_incidents(ids=[incident.id])
        kept = pipeline._open._by_id[incident.id]
        assert (kept.updated_at, kept.firing, dict(kept.healed)) == (
            fresh.updated_at,
            fresh.firing,
            dict(fresh.healed),
        )
    assert read == [] and len(fresh.healed) == 300
    pipeline.alerts([storm[0].replace(status=AlertStatus.RESOLVED, ends_at=990)], now=1000)
    assert daemon.store.incident(incident.id).status == IncidentStatus.RESOLVED
    assert incident.id not in pipeline._open


def test_alerts_merged_in_by_hand_are_ranked_when_the_next_service_joins(tmp_path):
    """The pipeline keeps each incident's ranking inputs between joins, through anything
    else that touches the incident, but not through a merge: what moved in is ranked."""
    daemon = _on(tmp_path, {"api": "db", "db": None, "warehouse": None})
    daemon.pipeline.alerts([fire("db", 0)], now=5)
    daemon.pipeline.alerts([fire("db", 1, name="Slow")], now=6)  # its inputs are kept now
    daemon.pipeline.alerts([fire("warehouse", 2)], now=7)
    outage, warehouse = daemon.store.unresolved_incidents()
    daemon.pipeline.desk.merge(outage.id, [warehouse.id], "al", 8, daemon.pipeline.correlator.rank)
    daemon.pipeline.alerts([fire("api", 10)], now=15)
    merged = daemon.store.incident(outage.id)
    assert merged.services == ("api", "db", "warehouse")
    assert {c.node for c in merged.root_causes} == {"api", "db", "warehouse"}


def test_a_failed_batch_leaves_nothing_of_itself_in_the_next_ranking(tmp_path, monkeypatch):
    """api joins db's incident, then the batch fails and its transaction rolls back: the
    next join is ranked on what the store holds, without api."""
    daemon = _on(tmp_path, {"api": "db", "jobs": "db", "db": None, "warehouse": None})
    daemon.pipeline.alerts([fire("db", 0)], now=5)

    def broken(*args, **kwargs):
        raise RuntimeError("the disk is full")

    with monkeypatch.context() as patched:
        patched.setattr(daemon.pipeline.desk, "open_incident", broken)
        with pytest.raises(RuntimeError):
            daemon.pipeline.alerts([fire("api", 10), fire("warehouse", 11)], now=15)
    daemon.pipeline.alerts([fire("jobs", 20)], now=25)
    [outage] = daemon.store.unresolved_incidents()
    assert outage.services == ("db", "jobs")
    assert {c.node for c in outage.root_causes} == {"db", "jobs"}


def test_a_wide_incidents_kept_ranking_follows_a_rolled_back_batch_and_a_merge(
    tmp_path, monkeypatch
):
    """A wide incident's ranking is kept from batch to batch and weighs only what joined;
    a batch that ranked it and then failed, and a merge by hand, leave it the ranking of
    what the store holds."""
    monkeypatch.setattr("sentinel.pipeline.RANKING_KEPT_FROM", 3)
    daemon = _on(
        tmp_path, {"dns": None, **{f"svc-{n}": "dns" for n in range(8)}, "warehouse": None}
    )
    pipeline, store = daemon.pipeline, daemon.store

    def ranked_as_stored(incident_id: int) -> bool:
        held = [alert for _, alert in store.node_representatives(incident_id)]
        return store.incident(incident_id).root_causes == pipeline.correlator.rank(held)

    pipeline.alerts([fire("dns", 0), *(fire(f"svc-{n}", 1 + n) for n in range(4))], now=10)

    def broken(*args, **kwargs):
        raise RuntimeError("the disk is full")

    with monkeypatch.context() as patched:  # svc-4 joins and is ranked, then rolled back
        patched.setattr(pipeline.desk, "open_incident", broken)
        with pytest.raises(RuntimeError):
            pipeline.alerts([fire("svc-4", 11), fire("warehouse", 12)], now=15)
    pipeline.alerts([fire("svc-5", 20)], now=25)
    [outage] = store.unresolved_incidents()
    assert "svc-4" not in outage.services and ranked_as_stored(outage.id)
    pipeline.alerts([fire("warehouse", 30)], now=35)
    [_, warehouse] = store.unresolved_incidents()
    pipeline.desk.merge(outage.id, [warehouse.id], "al", 40, pipeline.correlator.rank)
    pipeline.alerts([fire("svc-6", 45)], now=50)
    merged = store.incident(outage.id)
    assert "warehouse" in merged.services and ranked_as_stored(outage.id)
    assert merged.root_causes[0].node == "dns"


def _on(tmp_path, depends_on: dict[str, str | None]):
    """A daemon on a topology where each service depends on at most one other."""
    services = [
        {"name": name, "depends_on": [below] if below else []} for name, below in depends_on.items()
    ]
    return make_daemon(tmp_path, write_rules(tmp_path / "rules", services=services), Clock(0))


def _deliver(daemon, stream: list[Alert], together: bool) -> None:
    """The stream in one batch, or each alert in a batch of its own as it happens: the
    incidents' view then comes from the store, else from the batch itself."""
    for batch in [stream] if together else [[each] for each in stream]:
        last = batch[-1]
        daemon.pipeline.alerts(batch, now=(last.ends_at or last.starts_at) + 5)


def test_each_batch_is_one_durable_commit_timed_on_the_daemons_metrics(tmp_path):
    """A slow disk holds every batch: ``sentinel_store_commit_seconds`` shows it."""
    daemon = shop(tmp_path)
    registry = daemon.metrics.registry

    def commits() -> float:
        return registry.get_sample_value("sentinel_store_commit_seconds_count") or 0.0

    before = commits()
    daemon.pipeline.alerts([fire("db", 0), fire("api", 5)], now=10)
    assert commits() == before + 1
    assert registry.get_sample_value("sentinel_store_commit_seconds_sum") > 0
    daemon.pipeline.alerts([], now=11)  # nothing to write: no transaction
    assert commits() == before + 1


def test_the_open_incidents_are_read_once_while_only_batches_write_and_again_after_others_do(
    tmp_path,
):
    """Batch after batch, placement keeps its view of the unresolved incidents; an incident
    resolved between batches, by the daemon's own desk or by another process (the CLI),
    is read again, so no alert joins an incident that is no longer worked, nor one whose
    opening a caller's transaction undid."""
    daemon = shop(tmp_path)
    store, reads = daemon.store, []
    read = store.open_incidents

    def counted(group_key=None, ids=()):
        reads.extend([] if ids or group_key is not None else [1])
        return read(group_key, ids)

    store.open_incidents = counted  # type: ignore[method-assign]
    daemon.pipeline.alerts([fire("db", 0)], now=1)
    daemon.pipeline.alerts([fire("api", 5)], now=6)
    assert [i.id for i in store.unresolved_incidents()] == [1] and len(reads) == 1

    daemon.desk.resolve(1, "alice", now=30)  # the daemon's own connection
    daemon.pipeline.alerts([fire("frontend", 40, instance="a")], now=41)
    daemon.pipeline.alerts([fire("frontend", 41, instance="b")], now=42)
    assert [i.id for i in store.unresolved_incidents()] == [2] and len(reads) == 2

    Desk(Store(tmp_path / "sentinel.db"), DeskSettings()).resolve(2, "bob", now=50)
    daemon.pipeline.alerts([fire("frontend", 51, instance="c")], now=52)
    assert [i.id for i in store.unresolved_incidents()] == [3] and len(reads) == 3
    assert [a.labels["instance"] for a in store.firing_alerts(3)] == ["c"]

    # A caller's transaction around a batch rolls back: the incident it opened never was.
    with pytest.raises(RuntimeError), store.transaction():
        daemon.pipeline.alerts([fire("warehouse", 60)], now=61)
        raise RuntimeError("the caller's own write failed")
    daemon.pipeline.alerts([fire("reports", 62)], now=63)
    assert [i.services for i in store.unresolved_incidents()] == [("frontend",), ("reports",)]
    assert len(reads) == 4
