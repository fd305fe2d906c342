"""The service topology: services, their business tier and what each depends on.

Edges point from a service to what it depends on (``api -> db``). Trouble flows against the
edges, from a dependency to its dependants, so the likeliest root cause among alerting
services is one that has no alerting dependency of its own.
"""

from __future__ import annotations

import re
from collections.abc import Hashable, Iterable, Sized
from typing import Generic, TypeVar

import networkx as nx
from pydantic import Field

from sentinel.schema import Duration, StrictModel

Key = TypeVar("Key", bound=Hashable)
Held = TypeVar("Held", bound=Sized)
NEIGHBOURHOODS_KEPT = 2_000_000  # services, summed over the neighbourhoods a cache keeps


class SizedCache(Generic[Key, Held]):
    """A cache bounded by the summed size of what it holds, emptied when full. Beside a
    service that thousands depend on, each of them has most of the graph within two
    hops: kept for every one, their neighbourhoods held the graph squared (gigabytes for
    ten thousand services), where what a storm asks for next is the few it is placing."""

    def __init__(self) -> None:
        self._kept: dict[Key, Held] = {}
        self._held = 0
        self._limit = NEIGHBOURHOODS_KEPT

    def get(self, key: Key) -> Held | None:
        return self._kept.get(key)

    def put(self, key: Key, value: Held) -> Held:
        self._held += len(value)
        if self._held > self._limit:
            self._kept.clear()
            self._held = len(value)
        self._kept[key] = value
        return value

    def clear(self) -> None:
        self._kept.clear()
        self._held = 0


class ServiceConfig(StrictModel):
    name: str
    tier: int = Field(2, ge=1, le=3, description="business tier: 1 = business critical")
    depends_on: list[str] = Field(default_factory=list)
    owner: str = ""
    escalation_policy: str = "default"
    remote: bool = Field(
        False,
        description="an endpoint known only from its callers' side (a service map's "
        "untraced call, such as a load balancer's host name), not a service of its own",
    )


class ProblemConfig(StrictModel):
    """When recurring incidents become a problem record (ITIL problem management)."""

    min_occurrences: int = Field(3, ge=2, description="incidents with one signature")
    period: Duration = Field(7 * 86400.0, gt=0, description="within this long")


class CorrelationConfig(StrictModel):
    strategy: str = "topology"
    window: Duration = 300.0
    max_distance: int = Field(2, ge=0)
    group_by: list[str] = Field(default_factory=lambda: ["alertname", "target"])
    change_window: Duration = Field(3600.0, gt=0, description="how long a change stays a suspect")
    traffic_metrics: re.Pattern[str] = Field(
        re.compile(r"(?i)request|throughput|invocation|\b[rq]ps\b"),
        description="metrics that count calls: a deviation there is its failing callers' doing",
    )
    problems: ProblemConfig = Field(default_factory=ProblemConfig)


class Topology:
    """A networkx DiGraph of services, with the questions correlation asks of it.

    >>> topo = Topology.from_services([ServiceConfig(name="api", depends_on=["db"]),
    ...                                ServiceConfig(name="db", tier=1)])
    >>> topo.depends_on("api", "db"), topo.distance("db", "api"), topo.tier("db")
    (True, 1, 1)
    """

    def __init__(self, graph: nx.DiGraph) -> None:
        self.graph = graph  # not changed once built: the answers below are cached
        self._nodes = frozenset(graph)  # asked for every alert; a set answers in C
        self._undirected = graph.to_undirected(as_view=True)
        # Plain tuples to walk: networkx's adjacency views cost a Python call per step.
        self._succ = {node: tuple(graph.successors(node)) for node in graph}
        self._adjacent = {node: tuple(nx.all_neighbors(graph, node)) for node in graph}
        self._reach: SizedCache[tuple[str, int], dict[str, int]] = SizedCache()
        self._below: dict[str, frozenset[str]] = {}
        # endpoints known only from their callers (``ServiceConfig.remote``)
        self.remote = frozenset(n for n, remote in graph.nodes(data="remote") if remote)

    @classmethod
    def from_services(cls, services: Iterable[ServiceConfig]) -> Topology:
        graph = nx.DiGraph()
        for service in services:
            graph.add_node(
                service.name,
                tier=service.tier,
                owner=service.owner,
                escalation_policy=service.escalation_policy,
                remote=service.remote,
            )
            for dependency in service.depends_on:
                graph.add_edge(service.name, dependency)
        return cls(graph)

    def __contains__(self, node: object) -> bool:
        return node in self._nodes

    def tier(self, node: str, default: int = 2) -> int:
        return int(self.graph.nodes[node].get("tier", default)) if node in self._nodes else default

    def policy(self, node: str) -> str:
        if node in self._nodes:
            return str(self.graph.nodes[node].get("escalation_policy", "default"))
        return "default"

    def callers(self, node: str) -> frozenset[str]:
        """What depends on ``node`` directly."""
        return frozenset(self.graph.predecessors(node)) if node in self._nodes else frozenset()

    def calls(self, caller: str, node: str) -> bool:
        """Whether ``caller`` depends on ``node`` directly."""
        return self.graph.has_edge(caller, node)

    def depends_on(self, node: str, other: str) -> bool:
        """Whether ``node`` depends on ``other``, directly or through others."""
        return other in self.below(node)

    def below(self, node: str) -> frozenset[str]:
        """Everything ``node`` depends on, directly or through others, once per node
        (placement asks for the same nodes over and over); a node whose closure is known is
        not walked again, so a storm's thousands of services share the walks below them.
        Nothing asks what depends on a node: a deep service has most of a graph above it."""
        if node not in self._nodes:
            return frozenset()
        reached = self._below.get(node)
        if reached is None:
            seen: set[str] = set()
            stack = [node]
            while stack:
                for next_node in self._succ[stack.pop()]:
                    if next_node in seen:
                        continue
                    seen.add(next_node)
                    known = self._below.get(next_node)
                    if known is None:
                        stack.append(next_node)
                    else:
                        seen |= known
            seen.discard(node)  # on a cycle through itself, as networkx leaves it out too
            reached = self._below[node] = frozenset(seen)
        return reached

    def distance(self, a: str, b: str) -> int | None:
        """Hops between two services, ignoring direction; None if unconnected."""
        if a not in self._nodes or b not in self._nodes:
            return None
        try:
            return int(nx.shortest_path_length(self._undirected, a, b))
        except nx.NetworkXNoPath:
            return None

    def reach(self, node: str, radius: int) -> dict[str, int]:
        """Hops to every node within ``radius`` of ``node``, ignoring direction (cached)."""
        if node not in self._nodes:
            return {}
        cached = self._reach.get((node, radius))
        if cached is None:
            cached = {node: 0}
            frontier = [node]
            for hops in range(1, radius + 1):
                reached = []
                for near in frontier:
                    for other in self._adjacent[near]:
                        if other not in cached:
                            cached[other] = hops
                            reached.append(other)
                frontier = reached
            self._reach.put((node, radius), cached)
        return cached

    def cycles(self) -> list[list[str]]:
        """Dependency cycles, each starting at its smallest name, so reports are stable."""
        rotated = []
        for cycle in nx.simple_cycles(self.graph):
            start = cycle.index(min(cycle))
            rotated.append(cycle[start:] + cycle[:start])
        return sorted(rotated)
