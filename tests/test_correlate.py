"""Grouping by graph neighbourhood and root-cause ranking with evidence."""

from __future__ import annotations

import gc
import math
import os
import sys
from dataclasses import replace

import networkx as nx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sentinel.correlate import CorrelationConfig, OpenIncident, ServiceConfig, Topology
from sentinel.correlate.grouping import TopologyCorrelator
from sentinel.correlate.ranking import _Sum, measure
from sentinel.model import Alert, AlertStatus, Change, GroupingHint

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


def test_an_alert_is_about_its_service_else_its_prometheus_job_else_its_target():
    """Alerts from Prometheus name the service by ``job``, as imported topologies do."""
    correlator = TopologyCorrelator(SHOP)

    def about(**labels: str) -> str:
        return correlator.node(Alert({"alertname": "Down", **labels}, {}, AlertStatus.FIRING, 0))

    assert about(service="db", job="postgres", target="db-1") == "db"
    assert about(job="api", instance="10.0.0.7:9100") == "api"
    assert about(target="web-1") == "web-1"
    assert about() == "Down"
    assert correlator.scope(about(job="api")) >= {"db", "cache", "frontend"}


def test_alert_joins_the_incident_whose_cause_is_near():
    correlator = TopologyCorrelator(SHOP, CorrelationConfig(max_distance=2))
    open_db = OpenIncident(7, "db", 100, firing=True)
    open_queue = OpenIncident(8, "queue", 100, firing=True)
    assert correlator.place(fire("frontend", 110), [open_db, open_queue], now=110) == 7
    assert correlator.place(fire("batch", 110), [open_db, open_queue], now=110) == 8


def test_a_dependency_path_beats_mere_nearness():
    """cache is two hops from db (both called by api) and two from frontend (which depends
    on it through api): its trouble may reach frontend, never db, so it joins frontend's
    incident even though db's had an alert start later."""
    correlator = TopologyCorrelator(SHOP, CorrelationConfig(max_distance=2))
    open_db = OpenIncident(7, "db", 100, firing=True, active_at=105)
    open_frontend = OpenIncident(8, "frontend", 100, firing=True, active_at=101)
    assert correlator.place(fire("cache", 110), [open_db, open_frontend], now=110) == 8
    assert correlator.place(fire("cache", 110), [open_db], now=110) == 7  # only a neighbour


def test_a_symptom_of_two_causes_joins_the_one_failing_next_to_it():
    """web depends on two failing causes: redis two hops down (through cache, which is
    fine) and disk three hops down, whose trouble has climbed to gateway, web's own
    dependency. Trouble climbs hop by hop, so web's came through gateway: it joins disk's
    incident although redis is nearer."""
    topology = Topology.from_services(
        [
            ServiceConfig(name="web", depends_on=["gateway", "cache"]),
            ServiceConfig(name="gateway", depends_on=["queue"]),
            ServiceConfig(name="queue", depends_on=["disk"]),
            ServiceConfig(name="disk"),
            ServiceConfig(name="cache", depends_on=["redis"]),
            ServiceConfig(name="redis"),
        ]
    )
    correlator = TopologyCorrelator(topology, CorrelationConfig(max_distance=2))
    redis = OpenIncident(7, "redis", 100, firing=True, services=frozenset({"redis"}))
    disk = OpenIncident(
        8, "disk", 100, firing=True, services=frozenset({"disk", "queue", "gateway"})
    )
    assert correlator.place(fire("web", 110), [redis, disk], now=110) == 8
    quiet_gateway = replace(disk, services=frozenset({"disk", "queue"}))
    assert correlator.place(fire("web", 110), [redis, quiet_gateway], now=110) == 7


def test_operators_regroupings_are_followed():
    """batch and db share nothing in the topology, but an operator merged their incidents:
    batch's alerts now join db's incident while its trouble is recent. cache sits two hops
    from db and joined its incident by nearness, but an operator split them: it no longer
    does. api depends on db: a split does not undo a dependency, the topology says it."""
    correlator = TopologyCorrelator(SHOP, CorrelationConfig(max_distance=2, window=300))
    open_db = OpenIncident(7, "db", 100, firing=True, opened_at=100)
    assert correlator.place(fire("batch", 110), [open_db], now=110) is None
    assert correlator.place(fire("cache", 110), [open_db], now=110) == 7
    correlator.learn(
        [
            GroupingHint("batch", "db", True, 50, "alice"),
            GroupingHint("cache", "db", False, 50, "alice"),
            GroupingHint("api", "db", False, 50, "alice"),
        ]
    )
    assert "db" in correlator.scope("batch") and "batch" in correlator.scope("db")
    assert correlator.place(fire("batch", 110), [open_db], now=110) == 7
    assert correlator.place(fire("batch", 900), [open_db], now=900) is None  # long after
    assert correlator.place(fire("cache", 110), [open_db], now=110) is None
    assert correlator.place(fire("api", 110), [open_db], now=110) == 7
    correlator.learn([])
    assert "db" not in correlator.scope("batch")
    assert correlator.place(fire("cache", 110), [open_db], now=110) == 7


def test_too_far_from_the_cause_opens_a_new_incident():
    correlator = TopologyCorrelator(SHOP, CorrelationConfig(max_distance=1))
    assert correlator.scope("cache") == {"cache", "api"}
    open_db = OpenIncident(7, "db", 100, firing=True)  # a sibling two hops away
    assert correlator.place(fire("cache", 110), [open_db], now=110) is None


def test_a_dependency_takes_symptoms_from_any_depth_through_failing_services():
    """Beyond ``max_distance`` a dependant's alert is a symptom only where trouble has
    climbed to it: something between it and the cause fails in the incident. A far
    dependant with nothing failing on its way down, or one that began long after what it
    fails through, has trouble of its own."""
    correlator = TopologyCorrelator(SHOP, CorrelationConfig(max_distance=1))
    assert correlator.scope("frontend") == {"frontend", "api", "db", "cache"}
    open_db = OpenIncident(7, "db", 100, firing=True, services=frozenset({"db", "api"}))
    open_api = OpenIncident(8, "api", 100, firing=True, services=frozenset({"api"}))
    assert correlator.place(fire("frontend", 110), [open_db], now=110) == 7
    assert correlator.place(fire("frontend", 110), [open_db, open_api], now=110) == 8
    db_alone = OpenIncident(7, "db", 100, firing=True, services=frozenset({"db"}))
    assert correlator.place(fire("frontend", 110), [db_alone], now=110) is None
    assert correlator.place(fire("api", 110), [db_alone], now=110) == 7  # within reach
    long_open = replace(open_db, opened_at=100 - 3600)
    assert correlator.place(fire("frontend", 110), [long_open], now=110) is None  # new trouble
    api_just_failed = replace(long_open, onsets={"db": 100 - 3600, "api": 90})
    assert correlator.place(fire("frontend", 110), [api_just_failed], now=110) == 7


def test_a_cause_that_healed_joins_nothing_by_nearness():
    """db stopped failing at 100; frontend still fails in its incident. cache sits next to
    db: while db's errors may still drain (``window``) it joins, later it has trouble of
    its own. frontend's new alert joins the incident it still fails in; api, up again since
    120, is new trouble too."""
    correlator = TopologyCorrelator(SHOP, CorrelationConfig(max_distance=2, window=300))
    outage = OpenIncident(
        7,
        "db",
        100,
        firing=True,
        opened_at=0,
        services=frozenset({"db", "api", "frontend"}),
        onsets={"db": 0, "api": 10, "frontend": 600},
        healed={"db": 100, "api": 120},
    )
    assert correlator.place(fire("cache", 150), [outage], now=150) == 7
    assert correlator.place(fire("cache", 700), [outage], now=700) is None
    assert correlator.place(fire("frontend", 700, name="Slow"), [outage], now=700) == 7
    assert correlator.place(fire("api", 700, name="Slow"), [outage], now=700) is None
    still_down = replace(outage, healed={})
    assert correlator.place(fire("cache", 700), [still_down], now=700) == 7


def test_a_dependant_of_a_neighbour_that_joined_an_incident_joins_it_too():
    """cache joined db's incident as db's neighbour (api calls both). worker depends on
    cache and is three hops from db: its trouble is cache's, so it joins the incident cache
    fails in (a dependency's incident takes its dependants' alerts, whichever of its
    services ranks first), while it began within ``window`` of that trouble."""
    topology = Topology.from_services(
        [
            ServiceConfig(name="api", depends_on=["db", "cache"]),
            ServiceConfig(name="worker", depends_on=["cache"]),
            ServiceConfig(name="db"),
            ServiceConfig(name="cache"),
        ]
    )
    correlator = TopologyCorrelator(topology, CorrelationConfig(max_distance=2, window=300))
    assert topology.distance("worker", "db") == 3
    both = frozenset({"db", "cache"})
    incident = OpenIncident(7, "db", 60, firing=True, opened_at=0, services=both)
    assert correlator.place(fire("worker", 80), [incident], now=80) == 7
    assert correlator.place(fire("worker", 400), [incident], now=400) is None  # new trouble
    db_alone = replace(incident, services=frozenset({"db"}))
    assert correlator.place(fire("worker", 80), [db_alone], now=80) is None


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


def test_alerts_that_began_together_are_said_to_have_done_so():
    """Prometheus stamps every alert of one rule evaluation with the same time: none of
    them fired first, and the evidence must not name one as if it had."""
    correlator = TopologyCorrelator(SHOP)
    ranked = correlator.rank([fire("queue", 0), fire("db", 0), fire("cache", 20), fire("api", 20)])
    evidence = {c.node: c.evidence for c in ranked}
    assert "first to fire, at the same time as queue" in evidence["db"]
    assert "first to fire, at the same time as db" in evidence["queue"]
    assert "fired 20 s after db, at the same time as api" in evidence["cache"]
    assert not any(line == "first to fire" for lines in evidence.values() for line in lines)


def test_onset_breaks_ties_between_unrelated_services():
    correlator = TopologyCorrelator(SHOP)
    ranked = correlator.rank([fire("queue", 30), fire("cache", 10)])
    assert [c.node for c in ranked] == ["cache", "queue"]


def slower(
    service: str,
    at: float,
    value: float,
    expected: float,
    sigmas: float | None = None,
    metric: str = "latency_seconds",
    **labels: str,
) -> Alert:
    """An anomaly alert on a series (latency unless told), as the anomaly rule raises it."""
    annotations = {"value": str(value), "expected": str(expected), "reason": "above baseline"}
    if sigmas is not None:
        annotations["sigmas"] = str(sigmas)
    return Alert(
        {"alertname": "Anomaly", "service": service, "metric": metric, **labels},
        annotations,
        AlertStatus.FIRING,
        at,
        score=0.8,
    )


def test_of_two_failing_dependencies_the_one_its_dependants_followed_promptly_ranks_first():
    """disk had been failing for four minutes with nothing above it hurt; then net failed,
    and app, which depends on both, failed 12 s later, web after it. Trouble travels along
    a dependency in seconds: net is why, and the evidence says how the timing reads."""
    topology = Topology.from_services(
        [
            ServiceConfig(name="web", depends_on=["app"]),
            ServiceConfig(name="app", depends_on=["disk", "net"]),
            ServiceConfig(name="disk"),
            ServiceConfig(name="net"),
        ]
    )
    correlator = TopologyCorrelator(topology)
    ranked = correlator.rank(
        [fire("disk", 0), fire("net", 229), fire("app", 241), fire("web", 250)]
    )
    assert [c.node for c in ranked[:2]] == ["net", "disk"]
    assert "app began 241 s after disk, 12 s after net" in ranked[1].evidence[-2]
    assert not any("after net" in line for line in ranked[0].evidence)


def test_a_dependency_explains_a_dependant_in_proportion_to_its_deviation():
    correlator = TopologyCorrelator(SHOP)
    # The database is 0.28 s slower, the API 0.30 s: the database explains 93% of it.
    explained = correlator.rank([slower("api", 0, 0.40, 0.10), slower("db", 0, 0.30, 0.02)])
    assert [c.node for c in explained] == ["db", "api"]
    assert any("explains 93% of api's" in line for line in explained[1].evidence)
    # The database is only 0.01 s slower: it explains little, and the API is the suspect.
    unexplained = correlator.rank([slower("api", 0, 0.40, 0.10), slower("db", 0, 0.03, 0.02)])
    assert [c.node for c in unexplained] == ["api", "db"]
    assert unexplained[0].failure == "Anomaly:latency_seconds"
    assert unexplained[0].signature == "api/Anomaly:latency_seconds"


def test_a_dependency_within_its_usual_spread_explains_nothing():
    """A noisy database 0.3 s slower, 2.7σ of its own spread, has been that slow before
    without its callers failing: the API, 28σ out, is the suspect. A database 9σ out
    explains the API again, however quiet the API usually is."""
    correlator = TopologyCorrelator(SHOP)
    noisy = correlator.rank([slower("api", 0, 0.43, 0.19, 27.8), slower("db", 0, 0.6, 0.27, 2.7)])
    assert [c.node for c in noisy] == ["api", "db"]
    assert any(
        "db's deviation (Anomaly:latency_seconds 0.33, 2.7σ) is no more than it often moves:"
        " it explains none of api's (Anomaly:latency_seconds 0.24, 27.8σ)" in line
        for line in noisy[0].evidence
    )
    failing = correlator.rank([slower("api", 0, 0.43, 0.19, 27.8), slower("db", 0, 0.6, 0.27, 9)])
    assert [c.node for c in failing] == ["db", "api"]
    assert any("explains 100% of api's" in line for line in failing[1].evidence)


def test_a_dependency_explains_a_statistic_at_or_above_its_own():
    """A database whose median is 0.5 s slower makes the API's p90 as slow: it explains it.
    One slow only at p99 leaves the API's average unexplained, however large its p99 rise:
    a slower tail is a few slow calls, and a few slow calls do not move an average."""
    correlator = TopologyCorrelator(SHOP)
    median = [
        slower("api", 0, 0.76, 0.26, 26, statistic="p90"),
        slower("db", 0, 0.69, 0.2, 49, statistic="p50"),
    ]
    assert [c.node for c in correlator.rank(median)] == ["db", "api"]
    tail = [
        slower("api", 0, 0.62, 0.2, 25, statistic="Average"),
        slower("api", 0, 0.66, 0.2, 54, statistic="p50"),
        slower("db", 0, 0.81, 0.28, 4.5, statistic="p99"),
    ]
    ranked = correlator.rank(tail)
    assert [c.node for c in ranked] == ["api", "db"]
    assert any("failing on other measures only" in line for line in ranked[0].evidence)
    # The same statistic on both sides is compared directly, by size.
    same = [
        slower("api", 0, 0.62, 0.2, 25, quantile="0.99"),
        slower("db", 0, 0.6, 0.2, 30, quantile="0.99"),
    ]
    ranked = correlator.rank(same)
    assert [c.node for c in ranked] == ["db", "api"]
    assert any(
        "db's deviation (Anomaly:latency_seconds 0.99 0.4, 30σ) explains 95% of api's" in line
        for line in ranked[1].evidence
    )


def test_a_request_rate_that_moves_while_its_callers_fail_is_their_doing():
    """Fewer requests reach the database while the API fails: the drop is the API's
    doing, so the database, failing in nothing else, is no suspect."""
    correlator = TopologyCorrelator(SHOP)
    alerts = [
        slower("api", 0, 0.6, 0.2, 25),
        slower("db", 0, 113, 134, 5.6, metric="requests"),
        slower("cache", 0, 73, 94, 6.0, metric="http_requests_total"),
    ]
    ranked = correlator.rank(alerts)
    assert ranked[0].node == "api"
    by_node = {c.node: c for c in ranked}
    assert "db's request rate follows its failing callers: api" in by_node["db"].evidence
    # Without a failing caller, a request rate that moves is a service's own trouble.
    alone = correlator.rank([slower("db", 0, 113, 134, 5.6, metric="requests")])
    assert alone[0].evidence[1] == "nothing db depends on is failing"


def test_a_changed_dependency_is_a_suspect_even_when_it_does_not_alert():
    correlator = TopologyCorrelator(SHOP)
    deploy = Change(1, "cache", "deploy", "new eviction policy", 950.0, "v7")
    elsewhere = Change(2, "queue", "deploy", "unrelated", 950.0)
    stale = Change(3, "db", "config", "long ago", 950.0 - 2 * 3600)
    ranked = correlator.rank(
        [fire("api", 1000), fire("frontend", 1010)], [deploy, elsewhere, stale]
    )
    nodes = [c.node for c in ranked]
    assert nodes[:2] == ["api", "cache"]
    assert "queue" not in nodes and "db" not in nodes
    cache = ranked[1]
    assert cache.failure == "change"
    assert cache.evidence[0].startswith("deploy v7 on cache at 00:15:50Z (50 s before")
    assert "cache itself is not alerting" in cache.evidence


def test_adjacency_csv_imports_in_either_orientation(tmp_path):
    from sentinel.correlate.importers import (
        Orientation,
        TopologyImportError,
        services_from_adjacency_csv,
        services_yaml,
    )

    matrix = tmp_path / "graph.csv"
    matrix.write_text(",web,api,db\nweb,0,1,0\napi,0,0,1.0\ndb,0,0,0\n")
    calls = {s.name: s.depends_on for s in services_from_adjacency_csv(matrix)}
    assert calls == {"web": ["api"], "api": ["db"], "db": []}
    flows = services_from_adjacency_csv(matrix, Orientation.PROPAGATES)
    assert {s.name: s.depends_on for s in flows} == {"web": [], "api": ["web"], "db": ["api"]}
    assert "- name: api\n  depends_on:\n  - db\n" in services_yaml(
        services_from_adjacency_csv(matrix)
    )
    matrix.write_text(",web,lb_remote\nweb,0,1\nlb_remote,0,0\n")
    imported = services_from_adjacency_csv(matrix)
    assert [(s.name, s.remote) for s in imported] == [("web", False), ("lb_remote", True)]
    assert "- name: lb_remote\n  remote: true\n" in services_yaml(imported)
    matrix.write_text(",web,api\nweb,0,x\n")
    try:
        services_from_adjacency_csv(matrix)
    except TopologyImportError as error:
        assert str(error) == f"{matrix}:2: 'x' is not a number"
    else:
        raise AssertionError("a bad cell was accepted")


def test_deviations_of_different_classes_explain_nothing_either_way():
    correlator = TopologyCorrelator(SHOP)
    errors = Alert(
        {"alertname": "Anomaly", "service": "api", "metric": "error_ratio"},
        {"value": "0.2", "expected": "0.01"},
        AlertStatus.FIRING,
        0,
        score=0.9,
    )
    traffic = Alert(
        {"alertname": "Anomaly", "service": "db", "metric": "requests"},
        {"value": "120", "expected": "100"},
        AlertStatus.FIRING,
        0,
        score=0.6,
    )
    ranked = correlator.rank([errors, traffic])
    assert [c.node for c in ranked] == ["api", "db"]
    assert "api depends on db, failing on other measures only" in ranked[0].evidence


def _behind_a_balancer(remote: bool) -> Topology:
    """A site calls its API both directly and through a load balancer's host name, which a
    service map drawn from traces shows as an endpoint of its own, linked to nothing."""
    return Topology.from_services(
        [
            ServiceConfig(name="site", depends_on=["api", "lb.example_remote", "search"]),
            ServiceConfig(name="api", depends_on=["db"]),
            ServiceConfig(name="lb.example_remote", remote=remote),
            ServiceConfig(name="search"),
            ServiceConfig(name="db"),
        ]
    )


def test_a_remote_endpoint_failing_with_a_service_its_callers_call_is_taken_as_it():
    # The balancer sees the API's slowness plus its own hop: larger, but not its own.
    storm = [slower("lb.example_remote", 0, 0.90, 0.10), slower("api", 0, 0.60, 0.10)]
    storm.append(slower("site", 0, 1.00, 0.20))
    as_an_endpoint = TopologyCorrelator(_behind_a_balancer(remote=True)).rank(storm)
    assert [c.node for c in as_an_endpoint][:2] == ["api", "lb.example_remote"]
    api, balancer = as_an_endpoint[0], as_an_endpoint[1]
    assert (
        "may be behind lb.example_remote: remote, called by its callers, failing too"
        in api.evidence
    )
    assert any(
        line.startswith("lb.example_remote is seen only from its callers, who also call api")
        and "explains 62% of lb.example_remote's" in line
        for line in balancer.evidence
    )
    # Taken as a service of its own, the larger deviation wins: the mistake this avoids.
    as_a_service = TopologyCorrelator(_behind_a_balancer(remote=False)).rank(storm)
    assert as_a_service[0].node == "lb.example_remote"


def test_a_remote_endpoint_failing_on_its_own_stays_the_suspect():
    ranked = TopologyCorrelator(_behind_a_balancer(remote=True)).rank(
        [slower("lb.example_remote", 0, 0.90, 0.10), slower("site", 30, 1.00, 0.20)]
    )
    assert [c.node for c in ranked] == ["lb.example_remote", "site"]
    assert "nothing lb.example_remote depends on is failing" in ranked[0].evidence


def _python_calls(work) -> int:
    """Python function calls ``work`` makes: a cost that does not hang on the machine."""
    calls = []
    sys.setprofile(lambda frame, event, arg: event == "call" and calls.append(1))
    try:
        work()
    finally:
        sys.setprofile(None)
    return len(calls)


def test_ranking_again_weighs_only_the_suspects_whose_reading_changed():
    """A storm's incident ranks again as services join it: each ranking reads thousands of
    symptoms, nearly all as they were. Weighed again are only those whose reading changed
    (here dns, which one more service depends on, and the newcomer), and the ranking is
    the one a correlator that never ranked before gives, changes included."""
    topo = Topology.from_services(
        [ServiceConfig(name="dns")]
        + [ServiceConfig(name=f"svc-{n}", depends_on=["dns"]) for n in range(301)]
    )
    storm = [fire("dns", 0.0)] + [fire(f"svc-{n}", 1.0 + n / 10) for n in range(301)]
    deploy = [Change(1, "dns", "deploy", "v2", -60.0)]
    correlator = TopologyCorrelator(topo)
    first = _python_calls(lambda: correlator.rank(storm[:-1], deploy))
    again = _python_calls(lambda: correlator.rank(storm, deploy))
    assert again < first / 2  # 0.35 of it: dns reads each of its dependants again
    assert correlator.rank(storm, deploy) == TopologyCorrelator(topo).rank(storm, deploy)
    assert correlator.rank(storm) == TopologyCorrelator(topo).rank(storm)
    assert correlator.rank(storm, deploy)[0].node == "dns"


def _most_objects_alive(work) -> int:
    """The most objects the cyclic collector tracks that ``work`` held alive at once (at
    its Python calls): what makes the collector run, and walk what it holds, meanwhile."""
    gc.collect()
    gc.disable()
    start, most = gc.get_count()[0], [0]

    def probe(frame, event, arg) -> None:
        if event == "call":
            most[0] = max(most[0], gc.get_count()[0] - start)

    sys.setprofile(probe)
    try:
        work()
    finally:
        sys.setprofile(None)
        gc.enable()
    return most[0]


def test_ranking_a_storm_again_holds_no_object_per_suspect_while_it_runs():
    """Objects alive while a ranking runs set off the collector, which moves them to its
    older generations and, every few rankings, walks the whole heap: a list or two per
    suspect (each node's alerts, its failing dependencies, who began with it) made a
    10,000-service storm spend half its time there. Ranked again, 2,000 symptoms hold a
    few dozen (old: 10,048)."""
    dependants = 2000
    topo = Topology.from_services(
        [ServiceConfig(name="dns")]
        + [ServiceConfig(name=f"svc-{n}", depends_on=["dns"]) for n in range(dependants)]
    )
    storm = [fire("dns", 0.0)] + [fire(f"svc-{n}", 1.0 + n / 10) for n in range(dependants)]
    correlator = TopologyCorrelator(topo)
    correlator.rank(storm[:-1])
    assert _most_objects_alive(lambda: correlator.rank(storm)) < dependants / 20
    assert correlator.rank(storm) == TopologyCorrelator(topo).rank(storm)


def test_ranking_what_was_added_to_nothing_kept_or_with_a_change_asks_for_everything():
    """``rank_added`` trusts its caller that nothing but ``added`` changed; where it has
    nothing to start from, a recent change is weighed, or it is given what it read
    already, it answers None: rank from all the incident holds."""
    topo = Topology.from_services(
        [ServiceConfig(name="dns"), *(ServiceConfig(name=n, depends_on=["dns"]) for n in "abc")]
    )
    held, joining = [fire("dns", 0.0), fire("a", 1.0), fire("b", 2.0)], fire("c", 3.0)
    correlator = TopologyCorrelator(topo)
    assert correlator.rank_added(7, [joining]) is None  # nothing kept
    correlator.rank(held, kept_as=7)
    assert correlator.rank_added(7, [held[-1]]) is None  # read already
    correlator.rank(held, kept_as=7)
    deploy = Change(1, "dns", "deploy", "v2", 2.5)
    assert correlator.rank_added(7, [joining], [deploy]) is None
    correlator.rank(held, kept_as=7)
    assert correlator.rank_added(7, [joining]) == TopologyCorrelator(topo).rank([*held, joining])


def test_a_hubs_kept_weighing_follows_dependants_that_change_how_it_reads_them():
    """What a hub's weighing reads of its dependants as a whole (whether any deviates by a
    measured amount, whether each fails below it alone, the earliest of them, and once
    they are not alone how much of each it explains, how far it began before each, who
    began nearer to another) is kept between batches and must follow each joining
    dependant: one with a size, then one that also depends on another failing service,
    another that began nearer to that one, one that began before most of them.
    One that began before the first changes what every suspect reads: the incident is
    ranked from all it holds."""
    leaves = [f"leaf{n}" for n in range(6)]
    topo = Topology.from_services(
        [
            ServiceConfig(name="dns"),
            ServiceConfig(name="db", depends_on=["dns"]),
            *(ServiceConfig(name=n, depends_on=["dns"]) for n in leaves),
            ServiceConfig(name="api", depends_on=["dns", "db"]),
            ServiceConfig(name="queue"),
            ServiceConfig(name="cdn", depends_on=["dns", "queue"]),
            ServiceConfig(name="web", depends_on=["dns"]),
        ]
    )
    held = [
        _sized("dns", 0.0, 3.0),
        fire("db", 1.0),
        fire("queue", 1.5),
        *(fire(n, 10.0 + i) for i, n in enumerate(leaves)),
    ]
    kept = TopologyCorrelator(topo)
    kept.rank(held, kept_as=1)
    joins = [[_sized("web", 20.0, 1.0)], [fire("api", 21.0)], [fire("cdn", 3.0)], [fire("x", 2.0)]]
    for joining in joins:
        held += joining
        ranked = kept.rank_added(1, joining)
        assert ranked is not None and ranked == TopologyCorrelator(topo).rank(held)
    assert kept.rank_added(1, [fire("first", -1.0)]) is None


def test_a_kept_ranking_weighs_only_what_joined_and_what_fails_below_it():
    """A storm's incident ranks again as services join it, once a batch: kept under the
    incident's name, its ranking weighs the newcomers and dns (each of which reads how
    many others there are), not the thousands of symptoms before them, and is the
    ranking a correlator that never ranked before gives."""
    dependants, batch = 2000, 64
    topo = Topology.from_services(
        [ServiceConfig(name="dns")]
        + [ServiceConfig(name=f"svc-{n}", depends_on=["dns"]) for n in range(dependants)]
    )
    storm = [fire("dns", 0.0)] + [fire(f"svc-{n}", 1.0 + n / 10) for n in range(dependants)]
    kept, memo_only = TopologyCorrelator(topo), TopologyCorrelator(topo)
    kept.rank(storm[:-batch], kept_as=7)
    memo_only.rank(storm[:-batch])
    again = _python_calls(lambda: kept.rank(storm, kept_as=7))
    from_memo = _python_calls(lambda: memo_only.rank(storm))
    assert again < from_memo / 4  # 0.17: each newcomer is weighed once
    assert kept.rank(storm, kept_as=7) == TopologyCorrelator(topo).rank(storm)


def _sized(service: str, at: float, amount: float, severity: str = "warning") -> Alert:
    annotations = {"summary": "slow", "value": str(1.0 + amount), "expected": "1.0"}
    labels = {"alertname": "HighLatency", "service": service, "severity": severity}
    return Alert(labels, annotations, AlertStatus.FIRING, at)


@pytest.mark.parametrize(
    ("kept", "joining"),
    [
        # c begins with b, the last suspect: b now began "at the same time as c"
        ([fire("a", 0.0), fire("b", 5.0)], [fire("c", 5.0)]),
        ([fire("a", 0.0), fire("b", 5.0)], [fire("c", 7.0), fire("d", 7.0)]),  # together
        ([fire("a", 0.0), fire("b", 5.0)], [fire("c", 3.0)]),  # before the last suspect
        ([fire("a", 0.0), fire("db", 5.0)], [fire("edge", 7.0)]),  # remote, fronting db
        ([fire("a", 0.0), fire("edge", 5.0)], [fire("db", 7.0)]),  # behind the remote edge
        ([fire("a", 0.0), fire("api", 5.0)], [fire("db", 7.0)]),  # api depends on it
        ([_sized("a", 0.0, 1.0), _sized("b", 5.0, 1.0)], [_sized("c", 7.0, 1.0, "critical")]),
        ([_sized("a", 0.0, 1.0), _sized("b", 5.0, 1.0)], [_sized("c", 7.0, 9.0)]),  # larger
        ([fire("a", 0.0)], [fire("b", 5.0)]),  # a is no longer the only service alerting
    ],
)
def test_joins_that_change_what_the_others_read_are_ranked_as_from_nothing(kept, joining):
    """A kept ranking weighs again only what joined and the suspects with failing
    dependants; a newcomer that changes how the others read (their order, who began with
    them, the strongest, the largest deviation, what they depend on, what they may front,
    whether they are alone) is ranked as from nothing: who began with whom is told at
    the end (the rest has the incident ranked from nothing)."""
    topo = Topology.from_services(
        [
            *(ServiceConfig(name=n) for n in ("a", "b", "c", "d", "db")),
            ServiceConfig(name="api", depends_on=["edge", "db"]),
            ServiceConfig(name="edge", remote=True),
        ]
    )
    correlator = TopologyCorrelator(topo)
    correlator.rank(kept, kept_as=1)
    ranked = correlator.rank([*kept, *joining], kept_as=1)
    assert ranked == TopologyCorrelator(topo).rank([*kept, *joining])
    # An operator splits the newcomers off again: the incident holds what it held.
    assert correlator.rank(kept, kept_as=1) == TopologyCorrelator(topo).rank(kept)


@settings(max_examples=300, derandomize=True, deadline=None)
@given(
    terms=st.lists(
        st.one_of(st.floats(0.0, 1.0), st.sampled_from([0.1, 0.2, 0.3, 1e-17, 1 / 3])),
        max_size=60,
    ),
    data=st.data(),
)
def test_a_kept_sum_is_exactly_rounded_in_any_order(terms, data):
    """What a hub reads of its dependants, summed as they join: the same to the last bit
    as ``math.fsum`` of them all, in whatever order they came."""
    shuffled = data.draw(st.permutations(terms))
    kept = _Sum()
    for term in shuffled:
        kept.add(term)
    assert kept.total() == _Sum(terms).total() == math.fsum(terms)
    assert kept.count == len(terms)


@settings(
    max_examples=int(os.environ.get("SENTINEL_EXAMPLES", 400)),
    derandomize="SENTINEL_EXAMPLES" not in os.environ,
    deadline=None,
)
@given(
    edges=st.lists(
        st.tuples(st.integers(0, 9), st.integers(0, 9)).filter(lambda e: e[0] != e[1]),
        max_size=20,
    ),
    batches=st.lists(
        st.lists(
            st.tuples(
                st.integers(0, 22),  # node: n0-n9, the remote endpoint n10, hub leaves
                st.sampled_from([-14.0, -2.0, 0.0, 3.0, 8.0]),  # onset: some shared, some earlier
                st.sampled_from(["Down", "HighLatency", "ErrorRate"]),
                st.sampled_from([None, 0.2, 1.5, 9.0]),  # deviation
                st.sampled_from([None, 2.0, 30.0]),  # sigmas
                st.sampled_from(["critical", "warning"]),
                # A request rate's deviation is its callers' doing while they fail.
                st.sampled_from(["", "http_requests_per_second"]),
            ),
            min_size=1,
            max_size=6,
        ),
        min_size=1,
        max_size=8,
    ),
    changed=st.sets(st.integers(0, 7), max_size=2),  # batches ranked with a recent change
)
def test_a_kept_ranking_is_the_ranking_from_nothing(edges, batches, changed):
    """Ranked again as alerts join (each node's earliest alert per measure, as the
    pipeline keeps them), a kept ranking equals a fresh correlator's, whatever joins:
    newcomers before the suspects they follow, on a shared onset, stronger or larger,
    depended on by a suspect, a remote endpoint and the services behind it, request
    rates their failing callers drive, with and without a recent change; given all the
    incident holds, or only what joined."""
    depends_on: dict[str, set[str]] = {f"n{i}": set() for i in range(10)}
    for a, b in edges:
        depends_on[f"n{a}"].add(f"n{b}")
    depends_on["n1"].add("n10")
    depends_on.update({f"leaf{i}": {"n0", "n3"} if i % 4 == 0 else {"n0"} for i in range(12)})
    services = [
        ServiceConfig(name=name, depends_on=sorted(below)) for name, below in depends_on.items()
    ]
    topo = Topology.from_services([*services, ServiceConfig(name="n10", remote=True)])
    names = [*(f"n{i}" for i in range(11)), *(f"leaf{i}" for i in range(12))]
    correlator, by_added = TopologyCorrelator(topo), TopologyCorrelator(topo)
    earliest: dict[tuple[str, object], Alert] = {}
    for step, batch in enumerate(batches):
        added: dict[tuple[str, object], Alert] = {}  # as the pipeline keeps them
        replaced = False
        for node, offset, name, size, sigmas, severity, metric in batch:
            annotations = {"summary": name}
            if size is not None:
                annotations.update(value=str(1.0 + size), expected="1.0")
                if sigmas is not None:
                    annotations["sigmas"] = str(sigmas)
            labels = {"alertname": name, "service": names[node], "severity": severity}
            labels.update({"metric": metric} if metric else {})
            alert = Alert(labels, annotations, AlertStatus.FIRING, step * 10.0 + offset)
            key = (names[node], measure(alert))
            held = earliest.get(key)
            if held is None or alert.starts_at < held.starts_at:
                earliest[key] = alert
                replaced |= held is not None and key not in added
                added[key] = alert
        changes = [Change(1, names[step % 11], "deploy", "v2", step * 10.0 - 5)]
        recent = changes if step in changed else []
        fresh = TopologyCorrelator(topo).rank(list(earliest.values()), recent)
        assert correlator.rank(list(earliest.values()), recent, kept_as="incident") == fresh
        # Given only what joined, where nothing it read was replaced; else all it holds.
        again = None if replaced else by_added.rank_added("incident", [*added.values()], recent)
        if again is None:
            again = by_added.rank(list(earliest.values()), recent, kept_as="incident")
        assert again == fresh


@settings(max_examples=200, derandomize=True, deadline=None)
@given(
    edges=st.lists(
        st.tuples(st.integers(0, 14), st.integers(0, 14)).filter(lambda e: e[0] != e[1]),
        max_size=40,
    ),
    hub_fan_out=st.sampled_from([0, 3, 30, 300]),  # 300: past ``LAST_HOP_LISTED``
    radius=st.integers(0, 4),
)
def test_a_ball_holds_what_a_breadth_first_walk_reaches(edges, hub_fan_out, radius):
    """A ball lists its last hop only where it is short, yet answers for every node as a
    walk that lists them all does (networkx's, ignoring direction), also beside a hub."""
    depends_on: dict[str, list[str]] = {f"n{i}": [] for i in range(15)}
    for a, b in edges:
        depends_on[f"n{a}"].append(f"n{b}")
    depends_on.update({f"leaf{i}": ["n0"] for i in range(hub_fan_out)})
    topo = Topology.from_services(
        ServiceConfig(name=name, depends_on=sorted(set(below)))
        for name, below in depends_on.items()
    )
    # From a node, and from a leaf beside the hub (its last hop, the hub's fan-out, may
    # be too long to list).
    for source in ("n1", "leaf0") if hub_fan_out else ("n1",):
        walked = nx.single_source_shortest_path_length(topo.graph.to_undirected(), source, radius)
        ball = topo.reach(source, radius)
        assert dict(ball) == walked and len(ball) == len(walked) <= ball.at_most
        assert all(ball.get(node) == walked.get(node) for node in topo.graph)
        assert list(ball) == sorted(ball, key=walked.__getitem__)  # nearest first
        # Asked of many nodes (its last hop listed) and of one at a time (a rim test each).
        everything = [*topo.graph, "elsewhere"]
        assert ball.outside(everything) == set(everything) - set(walked)
        assert all(ball.outside([node]) == ({node} - set(walked)) for node in everything)
        assert all(ball.meets({node, "elsewhere"}) == (node in walked) for node in topo.graph)
        assert ball.meets(everything) == bool(walked)
    assert topo.reach("elsewhere", radius).get("n1") is None


def test_evidence_names_a_few_of_a_hubs_failing_dependants_and_counts_the_rest():
    """Evidence is stored with each ranking, sent in pages and read by a person: beside a
    service thousands depend on it names the first and says how many more."""
    dependants = [f"svc-{n:03}" for n in range(300)]
    topo = Topology.from_services(
        [
            ServiceConfig(name="dns"),
            *(ServiceConfig(name=n, depends_on=["dns"]) for n in dependants),
        ]
    )
    ranked = TopologyCorrelator(topo).rank([fire("dns", 0), *(fire(n, 5) for n in dependants)])
    assert ranked[0].node == "dns"
    named = "svc-000, svc-001, svc-002, svc-003, svc-004, svc-005, svc-006, svc-007, svc-008"
    assert f"{named}, svc-009 and 290 more depend on dns and are failing" in ranked[0].evidence
    assert max(len(line) for cause in ranked for line in cause.evidence) < 200


def test_placing_a_storm_beside_a_hub_keeps_neighbourhoods_of_the_graph_not_its_square():
    """Five hundred services depend on dns: each has all five hundred two hops away,
    through dns. Placing their alerts in dns's incident keeps what each neighbourhood
    lists short of its last hop, and answers for that hop by asking the node's neighbours;
    listing it for each was the graph squared, and most of what placing them cost."""
    dependants = [f"svc-{n}" for n in range(500)]
    topo = Topology.from_services(
        [
            ServiceConfig(name="dns"),
            *(ServiceConfig(name=n, depends_on=["dns"]) for n in dependants),
        ]
    )
    correlator = TopologyCorrelator(topo, CorrelationConfig(max_distance=2))
    storm = OpenIncident(1, "dns", 0.0, firing=True, services={"dns"})
    for at, node in enumerate(dependants):
        scope = correlator.scope(node)
        assert "dns" in scope and "svc-499" in scope and len(scope) == 501
        assert correlator.place(fire(node, float(at)), [storm], now=float(at)) == 1
    assert topo._reach._held < 5 * len(dependants)  # the square would be 250,000
