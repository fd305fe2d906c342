"""Grouping by graph neighbourhood and root-cause ranking with evidence."""

from __future__ import annotations

from sentinel.correlate import CorrelationConfig, OpenIncident, ServiceConfig, Topology
from sentinel.correlate.grouping import TopologyCorrelator
from sentinel.model import Alert, AlertStatus

SHOP = Topology.from_services(
    [
        ServiceConfig(name="frontend", tier=1, depends_on=["api"]),
        ServiceConfig(name="api", depends_on=["db", "cache"]),
        ServiceConfig(name="db", tier=1),
        ServiceConfig(name="cache"),
        ServiceConfig(name="batch", depends_on=["queue"]),
        ServiceConfig(name="queue"),
    ]
)


def fire(service: str, at: float, name: str = "Down", **labels: str) -> Alert:
    return Alert(
        {"alertname": name, "service": service, **labels},
        {"summary": f"{service} {name}"},
        AlertStatus.FIRING,
        at,
    )


def test_alert_joins_the_incident_whose_cause_is_near():
    correlator = TopologyCorrelator(SHOP, CorrelationConfig(max_distance=2))
    open_db = OpenIncident(7, "db", 100, firing=True)
    open_queue = OpenIncident(8, "queue", 100, firing=True)
    assert correlator.place(fire("frontend", 110), [open_db, open_queue], now=110) == 7
    assert correlator.place(fire("batch", 110), [open_db, open_queue], now=110) == 8


def test_too_far_from_the_cause_opens_a_new_incident():
    correlator = TopologyCorrelator(SHOP, CorrelationConfig(max_distance=1))
    assert correlator.scope("frontend") == {"frontend", "api"}
    open_db = OpenIncident(7, "db", 100, firing=True)
    assert correlator.place(fire("frontend", 110), [open_db], now=110) is None


def test_quiet_incident_outside_the_window_takes_no_new_alerts():
    correlator = TopologyCorrelator(SHOP, CorrelationConfig(window=60))
    quiet = OpenIncident(7, "db", 100, firing=False)
    assert correlator.place(fire("api", 150), [quiet], now=150) == 7
    assert correlator.place(fire("api", 500), [quiet], now=500) is None


def test_alerts_outside_the_topology_group_by_labels():
    correlator = TopologyCorrelator(SHOP, CorrelationConfig(group_by=["alertname", "cluster"]))
    assert correlator.scope("elsewhere") == frozenset()
    a, b = fire("x", 0, cluster="eu"), fire("y", 5, cluster="eu")
    assert correlator.group_key(a) == correlator.group_key(b)
    assert correlator.group_key(a) != correlator.group_key(fire("x", 0, cluster="us"))
    found = OpenIncident(3, "x", 0, firing=True)  # the store found it by group key
    assert correlator.place(b, [found], now=5) == 3


def test_root_cause_is_the_failing_dependency_with_evidence():
    correlator = TopologyCorrelator(SHOP)
    ranked = correlator.rank([fire("frontend", 40), fire("api", 20), fire("db", 0)])
    assert [c.node for c in ranked] == ["db", "api", "frontend"]
    top = ranked[0]
    assert "nothing db depends on is failing" in top.evidence
    assert "api, frontend depend on db and are failing" in top.evidence
    assert "first to fire" in top.evidence
    assert "api depends on db, also failing" in ranked[1].evidence
    assert "fired 20 s after db" in ranked[1].evidence


def test_onset_breaks_ties_between_unrelated_services():
    correlator = TopologyCorrelator(SHOP)
    ranked = correlator.rank([fire("queue", 30), fire("cache", 10)])
    assert [c.node for c in ranked] == ["cache", "queue"]
