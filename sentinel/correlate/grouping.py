"""Topology-aware grouping and root-cause ranking.

An alert on a service joins an open incident whose likeliest root cause lies within
``max_distance`` hops of it in the dependency graph, so a broken database and the APIs that
fail because of it become one incident (the dependants' alerts are its symptoms and do not
page on their own), while the incident stays a neighbourhood of its cause instead of
growing across the whole graph. Alerts on things outside the topology group by ``group_by``
labels, as Alertmanager does. Candidates are ranked by graph position, onset order, breadth
and alert strength.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from collections.abc import Sequence

from sentinel.correlate.base import OpenIncident, correlators
from sentinel.correlate.topology import CorrelationConfig, Topology
from sentinel.model import Alert, RootCause, Severity

_SEVERITY_WEIGHT = {Severity.CRITICAL: 1.0, Severity.WARNING: 0.6, Severity.INFO: 0.3}
# How much each kind of evidence counts; graph position dominates, as in a person's reading.
_WEIGHTS = {"graph": 0.5, "onset": 0.2, "breadth": 0.2, "strength": 0.1}
MAX_CANDIDATES = 10  # what a person reads; keeps a storm's incident record small


def _clock(ts: float) -> str:
    return time.strftime("%H:%M:%SZ", time.gmtime(ts))


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

    def node(self, alert: Alert) -> str:
        """The service an alert is about: its ``service`` label, else its target or name."""
        labels = alert.labels
        return labels.get("service") or labels.get("target") or labels.get("alertname", "?")

    def services(self, alerts: Sequence[Alert]) -> tuple[str, ...]:
        return tuple(sorted({self.node(a) for a in alerts}))

    def group_key(self, alert: Alert) -> str:
        return json.dumps([alert.labels.get(name, "") for name in self.config.group_by])

    def scope(self, node: str) -> frozenset[str]:
        return frozenset(self.topology.reach(node, self.config.max_distance))

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
            if hops is None:
                continue
            key = (hops, -candidate.updated_at, candidate.id)
            if best is None or key < best:
                best = key
        return None if best is None else best[2]

    def rank(self, alerts: Sequence[Alert]) -> tuple[RootCause, ...]:
        by_node: dict[str, list[Alert]] = defaultdict(list)
        for alert in alerts:
            by_node[self.node(alert)].append(alert)
        if not by_node:
            return ()
        onset = {node: min(a.starts_at for a in group) for node, group in by_node.items()}
        first_node = min(onset, key=lambda n: (onset[n], n))
        window = max(self.config.window, 1.0)
        causes = []
        for node, group in by_node.items():
            others = [m for m in by_node if m != node]
            failing_deps = [m for m in others if self.topology.depends_on(node, m)]
            dependants = [m for m in others if self.topology.depends_on(m, node)]
            lag = onset[node] - onset[first_node]
            strongest = max(group, key=lambda a: a.score * _SEVERITY_WEIGHT[a.severity])
            parts = {
                "graph": 0.0 if failing_deps else 1.0,
                "onset": max(0.0, 1.0 - lag / window),
                "breadth": len(dependants) / len(others) if others else 1.0,
                "strength": strongest.score * _SEVERITY_WEIGHT[strongest.severity],
            }
            evidence = [
                f"{node}: {strongest.name} firing since {_clock(strongest.starts_at)}"
                f" — {strongest.summary}"
            ]
            if failing_deps:
                evidence.append(
                    f"{node} depends on {', '.join(sorted(failing_deps))}, also failing"
                )
            elif node in self.topology:
                evidence.append(f"nothing {node} depends on is failing")
            if dependants:
                evidence.append(f"{', '.join(sorted(dependants))} depend on {node} and are failing")
            if node == first_node:
                evidence.append("first to fire" if others else "only service alerting")
            else:
                evidence.append(f"fired {lag:.0f} s after {first_node}")
            score = sum(_WEIGHTS[k] * v for k, v in parts.items())
            causes.append(RootCause(node=node, score=round(score, 3), evidence=tuple(evidence)))
        causes.sort(key=lambda c: (-c.score, onset[c.node], c.node))
        return tuple(causes[:MAX_CANDIDATES])
