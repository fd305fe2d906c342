"""Topology-aware grouping: which open incident an alert joins.

An alert on a service joins an open incident whose likeliest root cause lies within
``max_distance`` hops of it in the dependency graph, or anywhere below it (something it
depends on) where a service in between fails in that incident, so a broken database and the
APIs that fail because of it become one incident (the dependants' alerts are its symptoms and do not
page on their own), while the incident stays a neighbourhood of its cause instead of
growing across the whole graph. Alerts on things outside the topology group among themselves
by ``group_by`` labels, as Alertmanager does. Root causes are ranked by ``ranking.Ranker``.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Collection, Iterator, Sequence, Set
from functools import lru_cache

from sentinel.correlate.base import OpenIncident, correlators
from sentinel.correlate.ranking import Ranker
from sentinel.correlate.topology import Ball, CorrelationConfig, SizedCache, Topology
from sentinel.model import Alert, GroupingHint


class Neighbourhood(Set[str]):
    """A service's scope without a copy of its reach: the nodes within ``max_distance``
    (the topology's cached ``Ball``) and what lies beyond them in scope. Beside a service
    thousands depend on, each of them has most of the graph within reach, and copying it
    for each was most of what placing their alerts cost."""

    __slots__ = ("_beyond", "_near", "at_most")

    def __init__(self, near: Ball, beyond: frozenset[str]) -> None:
        self._near = near
        self._beyond = near.outside(beyond)
        self.at_most = near.at_most + len(self._beyond)  # known without listing it

    @property
    def held(self) -> int:
        """What keeping it costs beyond the ball, which the topology keeps."""
        return len(self._beyond) + 1

    def __bool__(self) -> bool:
        return self.at_most > 0

    def __contains__(self, node: object) -> bool:
        return node in self._near or node in self._beyond

    def meets(self, nodes: Collection[str]) -> bool:
        """Whether it holds any of ``nodes``."""
        return not self._beyond.isdisjoint(nodes) or self._near.meets(nodes)

    def __iter__(self) -> Iterator[str]:
        yield from self._near
        yield from self._beyond

    def __len__(self) -> int:
        return len(self._near) + len(self._beyond)


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
        self._scopes: SizedCache[str, Neighbourhood] = SizedCache(lambda scope: scope.held)
        self._near_below: dict[str, list[tuple[str, int]]] = {}  # see ``_dependencies_near``
        self.ranker = Ranker(topology, self.config, self.node)
        # Ranking is the ranker's (``Correlator.rank``, ``rank_added``).
        self.rank, self.rank_added = self.ranker.rank, self.ranker.rank_added
        self._together: dict[str, frozenset[str]] = {}  # service -> services merged with it
        self._apart: frozenset[tuple[str, str]] = frozenset()  # pairs split apart, both ways

    def learn(self, hints: Sequence[GroupingHint]) -> None:
        """Follow operators' regroupings: services merged into one incident join each other's
        incidents (within ``window`` of its trouble, as a far symptom would); services split
        apart no longer join each other's by mere nearness. A dependency in the topology
        still joins: it is configuration, and fixed there."""
        together: dict[str, set[str]] = defaultdict(set)
        apart: set[tuple[str, str]] = set()
        for hint in hints:
            if hint.together:
                together[hint.a].add(hint.b)
                together[hint.b].add(hint.a)
            else:
                apart.update(((hint.a, hint.b), (hint.b, hint.a)))
        self._together = {node: frozenset(partners) for node, partners in together.items()}
        self._apart = frozenset(apart)
        self._scopes.clear()  # scopes include the services merged with each node

    def node(self, alert: Alert) -> str:
        """The service an alert is about: its ``service`` label, else Prometheus's ``job``
        (what the target-label importer names services by, so alerts Prometheus sends find
        them), else its target or name."""
        labels = alert.labels
        return (
            labels.get("service")
            or labels.get("job")
            or labels.get("target")
            or labels.get("alertname", "?")
        )

    def services(self, alerts: Sequence[Alert]) -> tuple[str, ...]:
        return tuple(sorted({self.node(a) for a in alerts}))

    def group_key(self, alert: Alert) -> str:
        labels = alert.labels
        return _group_key(tuple([labels.get(name, "") for name in self.config.group_by]))

    def scope(self, node: str) -> Neighbourhood:
        """Nodes within ``max_distance`` hops, and everything ``node`` depends on at any
        depth: a dependency's incident takes its dependants' alerts as symptoms (the
        dependencies of Zabbix and Icinga, automatic from the graph). Cached per service;
        empty outside the graph."""
        if node not in self.topology:
            return Neighbourhood(self.topology.reach(node, 0), frozenset())
        scope = self._scopes.get(node)
        if scope is None:
            reach = self.topology.reach(node, self.config.max_distance)
            merged = self._together.get(node, frozenset())
            scope = self._scopes.put(node, Neighbourhood(reach, self.topology.below(node) | merged))
        return scope

    def place(self, alert: Alert, candidates: Sequence[OpenIncident], now: float) -> int | None:
        """Join the incident whose likeliest root cause is nearest (or, outside the graph, one
        with the same group key); an incident with nothing firing only within ``window``.
        A cause that stopped failing more than ``window`` before the alert began joins
        nothing by nearness (as Zabbix and Icinga suppress dependants only while their
        dependency is down): only a service still failing in the incident can."""
        node = self.node(alert)
        in_graph = node in self.topology
        reach = self.topology.reach(node, self.config.max_distance)
        best: tuple[bool, int, int, float, int] | None = None
        for candidate in candidates:
            if not candidate.firing and now - candidate.updated_at > self.config.window:
                continue
            healed = in_graph and not self._failing(candidate, candidate.root, alert)
            hops = None if healed else reach.get(candidate.root) if in_graph else 0
            taught = not healed and candidate.root in self._together.get(node, ())
            beyond = self.config.max_distance + 1
            if (
                hops is None
                and not healed
                and (
                    self._symptom_of(alert, node, candidate)
                    or (taught and self._within_window(alert, candidate))
                )
            ):
                hops = beyond
            if hops is None:
                # Once its cause healed, the node itself still failing in the incident (its
                # trouble goes on there); or a dependency failing in it, though not through
                # its likeliest cause (it joined as that one's neighbour, or outlasted it):
                # the node's trouble is its.
                if healed and node in candidate.services and self._failing(candidate, node, alert):
                    through = 0
                else:
                    through, failing = self._nearest_failing(alert, node, candidate, beyond)
                    if through == beyond or not self._within_window(alert, candidate, failing):
                        continue
                key = (False, through, beyond, -_active(candidate), candidate.id)
                if best is None or key < best:
                    best = key
                continue
            # One whose cause the node depends on, or that depends on the node, first: trouble
            # travels along dependencies, while a neighbour that shares one with it only
            # sits nearby. Of causes below it, the one with a service failing nearest below
            # it (trouble climbs hop by hop: its own came through that one). Then the nearest;
            # of those, the one whose alerts started last (a symptom follows the trouble
            # under way), in the alerts' own time however late.
            topology, root = self.topology, candidate.root
            below = topology.depends_on(node, root)
            unrelated = not (below or topology.depends_on(root, node) or taught)
            if unrelated and (node, root) in self._apart:
                continue  # an operator split them: nearness alone does not join them again
            through = self._nearest_failing(alert, node, candidate, hops)[0] if below else hops
            key = (unrelated, through, hops, -_active(candidate), candidate.id)
            if best is None or key < best:
                best = key
        return None if best is None else best[-1]

    def _nearest_failing(
        self, alert: Alert, node: str, candidate: OpenIncident, hops: int
    ) -> tuple[int, str]:
        """Hops to the nearest service failing in ``candidate`` that ``node`` depends on,
        within ``max_distance``, and that service (its cause, ``hops`` away, otherwise)."""
        for service, distance in self._dependencies_near(node):
            if distance >= hops:
                break
            if service in candidate.services and self._failing(candidate, service, alert):
                return distance, service
        return hops, candidate.root

    def _dependencies_near(self, node: str) -> list[tuple[str, int]]:
        """What ``node`` depends on within ``max_distance``, nearest first and of as near
        by name (placement must not hang on the order services are listed in), cached.
        Found among what it depends on or among what lies within reach, the fewer: beside
        a service thousands depend on, what lies within reach is thousands."""
        near = self._near_below.get(node)
        if near is None:
            reach = self.topology.reach(node, self.config.max_distance)
            below = self.topology.below(node)
            if len(below) <= reach.at_most:
                pairs = [(s, d) for s in below if (d := reach.get(s)) is not None]
            else:
                pairs = [(s, d) for s, d in reach.items() if s in below]
            near = sorted(pairs, key=lambda pair: (pair[1], pair[0]))
            self._near_below[node] = near
        return near

    def _failing(self, candidate: OpenIncident, service: str, alert: Alert) -> bool:
        """Whether ``service`` still failed in the incident when the alert began, or had
        stopped within ``window`` before (a flap, or errors still draining)."""
        stopped = candidate.healed.get(service)
        return stopped is None or alert.starts_at - stopped <= self.config.window

    def _within_window(
        self, alert: Alert, candidate: OpenIncident, service: str | None = None
    ) -> bool:
        """Whether the alert began within ``window`` of when ``service`` began failing in
        the incident (of the incident's trouble, where that is unknown or none is named)."""
        onset = candidate.opened_at
        if service is not None:
            onset = candidate.onsets.get(service, onset)
        return onset is None or abs(alert.starts_at - onset) <= self.config.window

    def _symptom_of(self, alert: Alert, node: str, candidate: OpenIncident) -> bool:
        """Whether an alert beyond ``max_distance`` is a symptom of a deeper dependency's
        incident: the node depends on its cause through a service failing in it within
        ``max_distance`` (trouble climbs through the services between; a far dependant
        with nothing failing on its way down has trouble of its own), and it began within
        ``window`` of that service's trouble, in the alerts' own time. Symptoms follow
        the service they depend on promptly (a late one is new trouble), however long a
        slow cascade took to climb to it."""
        topology, root = self.topology, candidate.root
        if not topology.depends_on(node, root):
            return False
        near = topology.reach(node, self.config.max_distance)
        return any(
            service in near
            and topology.depends_on(node, service)
            and topology.depends_on(service, root)
            and self._failing(candidate, service, alert)
            and self._within_window(alert, candidate, service)
            for service in candidate.services
        )

    ranks_alike = staticmethod(Ranker.ranks_alike)


def _active(incident: OpenIncident) -> float:
    """When an incident's latest alert began (its last change where that is unknown)."""
    return incident.updated_at if incident.active_at is None else incident.active_at


@lru_cache(maxsize=4096)  # a storm's alerts share a few group keys
def _group_key(values: tuple[str, ...]) -> str:
    return json.dumps(list(values))
