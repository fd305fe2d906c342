"""Topology-aware grouping and root-cause ranking.

An alert on a service joins an open incident whose likeliest root cause lies within
``max_distance`` hops of it in the dependency graph, or anywhere below it (something it
depends on), so a broken database and the APIs that
fail because of it become one incident (the dependants' alerts are its symptoms and do not
page on their own), while the incident stays a neighbourhood of its cause instead of
growing across the whole graph. Alerts on things outside the topology group among themselves
by ``group_by`` labels, as Alertmanager does. Candidates are ranked by graph position, onset
order, breadth and alert strength.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property, lru_cache

from sentinel.correlate.base import OpenIncident, correlators
from sentinel.correlate.topology import CorrelationConfig, Topology
from sentinel.model import Alert, Change, RootCause, Severity

_SEVERITY_WEIGHT = {Severity.CRITICAL: 1.0, Severity.WARNING: 0.6, Severity.INFO: 0.3}
# How much each kind of evidence counts; graph position dominates, as in a person's reading.
_WEIGHTS = {"graph": 0.4, "onset": 0.15, "breadth": 0.2, "strength": 0.1, "change": 0.15}
# A changed service that is not alerting itself may or may not be failing.
_UNALERTED_GRAPH = 0.5
MAX_CANDIDATES = 10  # what a person reads; keeps a storm's incident record small


@lru_cache(maxsize=4096)  # each ranking of a storm's incident quotes the same onsets again
def _clock(ts: float) -> str:
    return time.strftime("%H:%M:%SZ", time.gmtime(ts))


def failure_class(alert: Alert) -> str:
    """How something failed: the alert's name, and the metric for per-series rules."""
    metric = alert.labels.get("metric")
    return f"{alert.name}:{metric}" if metric else alert.name


def deviation(alert: Alert) -> float | None:
    """How far the alerting value sits from what was expected, in the metric's own unit,
    when the detector says (``value`` and ``expected`` annotations)."""
    try:
        return abs(float(alert.annotations["value"]) - float(alert.annotations["expected"]))
    except (KeyError, ValueError):
        return None


def _explains(cause: _Suspect, dependant: _Suspect) -> float:
    """How much of a failing dependant's trouble a cause can account for (0..1): by the
    size of their deviations where both have one of a failure class; none of it where both
    deviate only in different classes; all of it where either says nothing of size (the
    mirror of ``TopologyCorrelator._unexplained``)."""
    shares = [
        min(1.0, cause.deviations[kind] / theirs)
        for kind, theirs in dependant.deviations.items()
        if kind in cause.deviations
    ]
    if shares:
        return max(shares)
    return 0.0 if cause.deviations and dependant.deviations else 1.0


def _magnitude(suspect: _Suspect, largest: dict[str, float]) -> float:
    """How large a node's deviation is next to the largest of its failure class in the
    incident (0..1; 1 where nothing compares): a blip beside an outage counts for little."""
    shares = [amount / largest[kind] for kind, amount in suspect.deviations.items()]
    return max(shares, default=1.0)


def _largest(suspects: Iterable[_Suspect]) -> dict[str, float]:
    """The largest deviation of each failure class among the suspects."""
    largest: dict[str, float] = {}
    for suspect in suspects:
        for kind, amount in suspect.deviations.items():
            largest[kind] = max(largest.get(kind, 0.0), amount)
    return largest


@dataclass
class _Incident:
    """What ranking weighs each suspect against: the others, computed once per ranking."""

    suspects: dict[str, _Suspect]
    first: _Suspect
    changes: Sequence[Change]
    top_strength: float
    largest: dict[str, float]
    # remote endpoint -> the failing services its callers also call, which it may front
    stand_ins: dict[str, list[_Suspect]]
    failing_below: dict[str, list[_Suspect]]  # node -> the suspects it depends on, in order
    failing_above: dict[str, list[str]]  # node -> the suspects that depend on it, sorted


@dataclass
class _Suspect:
    """What ranking knows of one node: its alerts' onset, strength and deviations."""

    node: str
    alerts: list[Alert]
    onset: float
    deviations: dict[str, float]  # failure class -> largest deviation

    @classmethod
    def of(cls, node: str, alerts: list[Alert]) -> _Suspect:
        deviations: dict[str, float] = {}
        for alert in alerts:
            amount = deviation(alert)
            if amount is not None and amount > 0:
                kind = failure_class(alert)
                deviations[kind] = max(deviations.get(kind, 0.0), amount)
        return cls(node, alerts, min(a.starts_at for a in alerts), deviations)

    @cached_property
    def strongest(self) -> Alert:
        return max(self.alerts, key=lambda a: a.score * _SEVERITY_WEIGHT[a.severity])

    @cached_property
    def strength(self) -> float:
        """Score times severity weight of its strongest alert (never 0, to compare by)."""
        strongest = self.strongest
        return max(strongest.score * _SEVERITY_WEIGHT[strongest.severity], 1e-9)


@correlators.register("topology")
class TopologyCorrelator:
    """Groups by graph neighbourhood and ranks root causes.

    >>> from sentinel.correlate.topology import ServiceConfig
    >>> from sentinel.model import Alert, AlertStatus
    >>> topo = Topology.from_services([ServiceConfig(name="api", depends_on=["db"]),
    ...                                ServiceConfig(name="db")])
    >>> fire = lambda svc, t: Alert({"alertname": "Down", "service": svc}, {},
    ...                             AlertStatus.FIRING, t)
    >>> [c.node for c in TopologyCorrelator(topo).rank([fire("api", 5), fire("db", 9)])]
    ['db', 'api']
    """

    def __init__(self, topology: Topology, config: CorrelationConfig | None = None) -> None:
        self.topology = topology
        self.config = config or CorrelationConfig()
        self._scopes: dict[str, frozenset[str]] = {}

    def node(self, alert: Alert) -> str:
        """The service an alert is about: its ``service`` label, else its target or name."""
        labels = alert.labels
        return labels.get("service") or labels.get("target") or labels.get("alertname", "?")

    def services(self, alerts: Sequence[Alert]) -> tuple[str, ...]:
        return tuple(sorted({self.node(a) for a in alerts}))

    def group_key(self, alert: Alert) -> str:
        labels = alert.labels
        return _group_key(tuple([labels.get(name, "") for name in self.config.group_by]))

    def scope(self, node: str) -> frozenset[str]:
        """Nodes within ``max_distance`` hops, and everything ``node`` depends on at any
        depth: a dependency's incident takes its dependants' alerts as symptoms (the
        dependencies of Zabbix and Icinga, automatic from the graph). Cached per service."""
        if node not in self.topology:
            return frozenset()
        scope = self._scopes.get(node)
        if scope is None:
            reach = self.topology.reach(node, self.config.max_distance)
            scope = self._scopes[node] = frozenset(reach) | self.topology.below(node)
        return scope

    def place(self, alert: Alert, candidates: Sequence[OpenIncident], now: float) -> int | None:
        """Join the incident whose likeliest root cause is nearest (or, outside the graph, one
        with the same group key); an incident with nothing firing only within ``window``."""
        node = self.node(alert)
        reach = self.topology.reach(node, self.config.max_distance)
        best: tuple[float, float, int] | None = None
        for candidate in candidates:
            if not candidate.firing and now - candidate.updated_at > self.config.window:
                continue
            hops = reach.get(candidate.root) if node in self.topology else 0
            if hops is None and self._symptom_of(alert, node, candidate):
                hops = self.config.max_distance + 1
            if hops is None:
                continue
            key = (hops, -candidate.updated_at, candidate.id)
            if best is None or key < best:
                best = key
        return None if best is None else best[2]

    def _symptom_of(self, alert: Alert, node: str, candidate: OpenIncident) -> bool:
        """Whether an alert beyond ``max_distance`` is a symptom of a deeper dependency's
        incident: the node depends on its cause, and it fired within ``window`` of the
        incident opening (symptoms follow their cause promptly; a late one is new trouble)."""
        if not self.topology.depends_on(node, candidate.root):
            return False
        opened = candidate.opened_at
        return opened is None or abs(alert.starts_at - opened) <= self.config.window

    def rank(
        self, alerts: Sequence[Alert], changes: Sequence[Change] = ()
    ) -> tuple[RootCause, ...]:
        """Order the alerting nodes (and changed services they depend on) by how likely
        each is the cause, each with the evidence behind its place."""
        by_node: dict[str, list[Alert]] = defaultdict(list)
        for alert in alerts:
            by_node[self.node(alert)].append(alert)
        if not by_node:
            return ()
        suspects = {node: _Suspect.of(node, group) for node, group in by_node.items()}
        first = min(suspects.values(), key=lambda s: (s.onset, s.node))
        incident = _Incident(
            suspects,
            first,
            changes,
            max(s.strength for s in suspects.values()),
            _largest(suspects.values()),
            self._stand_ins(suspects),
            *self._failing_relations(suspects),
        )
        causes = [self._alerting_cause(s, incident) for s in suspects.values()]
        causes += self._changed_causes(suspects, first, changes)
        causes.sort(key=lambda c: (-c[0].score, c[1], c[0].node))
        return tuple(cause for cause, _ in causes[:MAX_CANDIDATES])

    def _alerting_cause(self, suspect: _Suspect, incident: _Incident) -> tuple[RootCause, float]:
        node, topology = suspect.node, self.topology
        suspects, first = incident.suspects, incident.first
        others = len(suspects) - 1
        failing_deps = incident.failing_below[node]
        dependants = incident.failing_above[node]
        fronts = sorted(r for r, behind in incident.stand_ins.items() if suspect in behind)
        lag = suspect.onset - first.onset
        strongest = suspect.strongest
        if node in incident.stand_ins:
            unexplained, explanation = self._unexplained(
                suspect, incident.stand_ins[node], "is seen only from its callers, who also call"
            )
        else:
            unexplained, explanation = self._unexplained(suspect, failing_deps)
        change, change_note = self._change(node, first.onset, incident.changes)
        parts = {
            "graph": unexplained,
            "onset": self._precedes(suspect, [*failing_deps, *(suspects[d] for d in dependants)]),
            "breadth": (
                sum(_explains(suspect, suspects[d]) for d in [*dependants, *fronts]) / others
                if others
                else 1.0
            ),
            "strength": suspect.strength
            / incident.top_strength
            * _magnitude(suspect, incident.largest),
            "change": change,
        }
        reason = strongest.annotations.get("reason")
        evidence = [
            f"{node}: {strongest.name} firing since {_clock(strongest.starts_at)}"
            f" — {strongest.summary}"
            + (f" ({reason})" if reason and reason not in strongest.summary else "")
        ]
        if explanation:
            evidence.append(explanation)
        elif node in topology:
            evidence.append(f"nothing {node} depends on is failing")
        if dependants:
            evidence.append(f"{', '.join(dependants)} depend on {node} and are failing")
        if fronts:
            evidence.append(
                f"may be behind {', '.join(fronts)}: remote, called by its callers, failing too"
            )
        if node == first.node:
            evidence.append("first to fire" if others else "only service alerting")
        else:
            evidence.append(f"fired {lag:.0f} s after {first.node}")
        if change_note:
            evidence.append(change_note)
        score = round(sum(_WEIGHTS[k] * v for k, v in parts.items()), 3)
        failure = failure_class(strongest)
        return RootCause(node, score, tuple(evidence), failure), suspect.onset

    def _failing_relations(
        self, suspects: dict[str, _Suspect]
    ) -> tuple[dict[str, list[_Suspect]], dict[str, list[str]]]:
        """Which suspects each suspect depends on, and which depend on it: one intersection
        of its closure with the suspects each, not a walk of every pair; never what depends
        on a node, which for a deep service is most of a storm's graph."""
        names = frozenset(suspects)
        below: dict[str, list[_Suspect]] = {}
        above: dict[str, list[str]] = {node: [] for node in suspects}
        for node in suspects:
            failing = self.topology.below(node) & names - {node}
            below[node] = [s for m, s in suspects.items() if m in failing] if failing else []
            for dependency in failing:
                above[dependency].append(node)
        return below, {node: sorted(nodes) for node, nodes in above.items()}

    def _precedes(self, suspect: _Suspect, related: list[_Suspect]) -> float:
        """Whether a node deviated before the failing nodes it is connected to (0..1): a
        cause comes before its effects. Timing against unconnected alerts says nothing
        (0.5), so an unrelated early alert is no suspect for being early."""
        if not related:
            return 0.5
        window = max(self.config.window, 1.0)
        return sum(
            max(0.0, 1.0 - max(0.0, suspect.onset - other.onset) / window) for other in related
        ) / len(related)

    def _stand_ins(self, suspects: dict[str, _Suspect]) -> dict[str, list[_Suspect]]:
        """For each failing remote endpoint with nothing failing below it: the failing
        services its callers also call. Its trouble may be theirs seen from outside (a load
        balancer's host name in front of the service behind it), which a service map drawn
        from traces does not link to it."""
        topology, stand_ins = self.topology, {}
        for node in suspects:
            if node not in topology.remote:
                continue
            below = topology.below(node)
            if any(other in below for other in suspects):
                continue
            callers = topology.callers(node)
            behind = [
                suspect
                for other, suspect in suspects.items()
                if other != node
                and other not in topology.remote
                and any(topology.calls(caller, other) for caller in callers)
            ]
            if behind:
                stand_ins[node] = behind
        return stand_ins

    def _unexplained(
        self, suspect: _Suspect, failing_deps: list[_Suspect], relation: str = "depends on"
    ) -> tuple[float, str]:
        """How much of a node's trouble its failing dependencies (or, for a remote
        endpoint, the services it may front) do not explain (0..1).

        A dependency explains a deviation of the same failure class in proportion to its own
        (a database 0.28 s slower explains 93% of an API 0.30 s slower); deviations of other
        classes only explain none of it; a failing dependency whose alerts say nothing of
        size (a check that is down) explains all of it, as a person would assume.
        """
        if not failing_deps:
            return 1.0, ""
        related = f"{suspect.node} {relation} " + ", ".join(sorted(d.node for d in failing_deps))
        shares = []
        for kind, own in suspect.deviations.items():
            dep = max(failing_deps, key=lambda d: d.deviations.get(kind, 0.0))
            theirs = dep.deviations.get(kind, 0.0)
            if theirs > 0:
                shares.append((min(1.0, theirs / own), kind, own, dep.node, theirs))
        if not shares and suspect.deviations and any(d.deviations for d in failing_deps):
            return 1.0, f"{related}, failing on other measures only"
        if not shares:
            return 0.0, f"{related}, also failing"
        share, kind, own, dep_node, theirs = min(shares)
        return 1.0 - share, (
            f"{related}, also failing; {dep_node}'s {kind} deviation "
            f"({theirs:.4g}) explains {share:.0%} of {suspect.node}'s ({own:.4g})"
        )

    def _change(self, node: str, onset: float, changes: Sequence[Change]) -> tuple[float, str]:
        """How strongly a recent change on ``node`` makes it a suspect (1 just before)."""
        best, note = 0.0, ""
        for change in changes:
            if change.service != node or change.at > onset + self.config.window:
                continue
            recency = 1.0 - max(0.0, onset - change.at) / self.config.change_window
            if recency > best:
                best = recency
                when = f"{onset - change.at:.0f} s before" if change.at <= onset else "after"
                version = f" {change.version}" if change.version else ""
                note = (
                    f"{change.kind}{version} on {node} at {_clock(change.at)} "
                    f"({when} the first alert): {change.summary}"
                )
        return best, note

    def _changed_causes(
        self, suspects: dict[str, _Suspect], first: _Suspect, changes: Sequence[Change]
    ) -> list[tuple[RootCause, float]]:
        """Services changed shortly before the trouble that alerting services depend on,
        though they do not alert themselves (PagerDuty-style change correlation)."""
        causes = []
        for service in sorted({c.service for c in changes} - suspects.keys()):
            dependants = sorted(m for m in suspects if self.topology.depends_on(m, service))
            change, note = self._change(service, first.onset, changes)
            if not dependants or change <= 0:
                continue
            parts = {
                "graph": _UNALERTED_GRAPH,
                "onset": 1.0,
                "breadth": len(dependants) / len(suspects),
                "strength": 0.0,
                "change": change,
            }
            evidence = (
                note,
                f"{', '.join(dependants)} depend on {service} and are failing",
                f"{service} itself is not alerting",
            )
            score = round(sum(_WEIGHTS[k] * v for k, v in parts.items()), 3)
            causes.append((RootCause(service, score, evidence, "change"), first.onset))
        return causes


@lru_cache(maxsize=4096)  # a storm's alerts share a few group keys
def _group_key(values: tuple[str, ...]) -> str:
    return json.dumps(list(values))
