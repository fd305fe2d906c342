"""The service topology: services, their business tier and what each depends on.

Edges point from a service to what it depends on (``api -> db``). Trouble flows against the
edges, from a dependency to its dependants, so the likeliest root cause among alerting
services is one that has no alerting dependency of its own.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Hashable, Iterable, Iterator, Mapping, Sequence
from itertools import chain, repeat
from typing import Generic, TypeVar

import networkx as nx
from pydantic import Field

from sentinel.schema import Duration, StrictModel

Key = TypeVar("Key", bound=Hashable)
Held = TypeVar("Held")
NEIGHBOURHOODS_KEPT = 2_000_000  # services, summed over the neighbourhoods a cache keeps
# A ball's last hop is listed to answer for many nodes at once where it holds at most this
# many nodes for each asked about: what a set built in C costs next to a test in Python.
LISTED_PER_TEST = 16
# A ball lists its last hop too where it reaches at most this many nodes (most of a graph's
# neighbourhoods): a listed one answers by dict and set operations alone.
LAST_HOP_LISTED = 256


class SizedCache(Generic[Key, Held]):
    """A cache bounded by the summed size of what it holds (as ``weigh`` tells), emptied
    when full. Kept for every service of a storm, neighbourhoods with most of the graph
    in each held the graph squared (gigabytes for ten thousand services), where what a
    storm asks for next is the few it is placing."""

    def __init__(self, weigh: Callable[[Held], int]) -> None:
        self._kept: dict[Key, Held] = {}
        self._held = 0
        self._limit = NEIGHBOURHOODS_KEPT
        self._weigh = weigh

    def get(self, key: Key) -> Held | None:
        return self._kept.get(key)

    def put(self, key: Key, value: Held) -> Held:
        self._held += self._weigh(value)
        if self._held > self._limit:
            self._kept.clear()
            self._held = self._weigh(value)
        self._kept[key] = value
        return value

    def clear(self) -> None:
        self._kept.clear()
        self._held = 0


class Ball(Mapping[str, int]):
    """Hops to every node within ``radius`` of one, ignoring direction, without listing
    the last hop where it is long. Beside a service thousands depend on, each of them has
    the thousands within two hops, through it: listing them for each dependant was most of
    what placing a storm on such a service cost. Nodes nearer than ``radius`` are listed;
    one at ``radius`` is known by a neighbour on the rim (the listed nodes ``radius - 1`` away),
    found by intersecting its neighbours with the rim, the smaller of them walked."""

    __slots__ = ("_adjacent", "_inner", "_neighbours", "_on_rim", "_radius", "_rim", "at_most")

    def __init__(
        self,
        inner: dict[str, int],
        rim: Sequence[str],
        radius: int,
        adjacent: Mapping[str, Sequence[str]],
        neighbours: Mapping[str, frozenset[str]],
    ) -> None:
        self._inner, self._rim, self._on_rim = inner, rim, frozenset(rim)
        self._radius, self._adjacent, self._neighbours = radius, adjacent, neighbours
        # What it holds at most, known without listing the last hop.
        self.at_most = len(inner) + sum(len(adjacent[node]) for node in rim)

    @property
    def held(self) -> int:
        """How much of it is listed: what keeping it costs."""
        return len(self._inner) + len(self._rim)

    def get(self, node: str, default: int | None = None) -> int | None:  # type: ignore[override]
        hops = self._inner.get(node)
        if hops is not None or not self._rim:  # nothing more, or all of it listed
            return default if hops is None else hops
        neighbours = self._neighbours.get(node)
        if neighbours is not None and not self._on_rim.isdisjoint(neighbours):
            return self._radius
        return default

    def __getitem__(self, node: str) -> int:
        hops = self.get(node)
        if hops is None:
            raise KeyError(node)
        return hops

    def __contains__(self, node: object) -> bool:
        return isinstance(node, str) and self.get(node) is not None

    def outside(self, nodes: Iterable[str]) -> frozenset[str]:
        """Those of ``nodes`` it does not hold (a scope asks this of every service below
        its node): by one set difference with the last hop, listed for the question, where
        that hop is short; else by a rim test each."""
        rest = frozenset(nodes).difference(self._inner)
        if not self._rim:
            return rest
        if self._listing_pays(len(rest)):
            return rest.difference(self._last_hop())
        on_rim, neighbours = self._on_rim, self._neighbours
        return frozenset(n for n in rest if on_rim.isdisjoint(neighbours.get(n, ())))

    def meets(self, nodes: Collection[str]) -> bool:
        """Whether it holds any of ``nodes``: as ``outside`` answers."""
        if not self._inner.keys().isdisjoint(nodes):
            return True
        if not self._rim:
            return False
        if self._listing_pays(len(nodes)):
            return not self._last_hop().isdisjoint(nodes)
        on_rim, neighbours = self._on_rim, self._neighbours
        return any(not on_rim.isdisjoint(neighbours.get(n, ())) for n in nodes)

    def _listing_pays(self, asked: int) -> bool:
        """Whether listing the last hop (a step in C per neighbour of the rim) costs less
        than a rim test in Python for each of ``asked`` nodes."""
        return self.at_most - len(self._inner) <= LISTED_PER_TEST * asked

    def _last_hop(self) -> set[str]:
        hop = set(chain.from_iterable(map(self._adjacent.__getitem__, self._rim)))
        hop.difference_update(self._inner)
        return hop

    def __iter__(self) -> Iterator[str]:
        """Nearest first, and in the order a breadth-first walk meets them."""
        yield from self._inner
        inner = self._inner
        reached = dict.fromkeys(chain.from_iterable(map(self._adjacent.__getitem__, self._rim)))
        yield from (node for node in reached if node not in inner)

    def __len__(self) -> int:
        return sum(1 for _ in self)


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
        self._neighbours = {node: frozenset(near) for node, near in self._adjacent.items()}
        self._reach: SizedCache[tuple[str, int], Ball] = SizedCache(lambda ball: ball.held)
        self._below: dict[str, frozenset[str]] = {}
        # asked for every service of an incident a batch joins
        self._tiers = {node: int(t) for node, t in graph.nodes(data="tier") if t is not None}
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
        return self._tiers.get(node, default)

    def tiers(self, nodes: Iterable[str], default: int = 2) -> list[int]:
        """Each node's tier, looked up in C: a wide incident's thousands, at each batch."""
        return list(map(self._tiers.get, nodes, repeat(default)))

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

    def reach(self, node: str, radius: int) -> Ball:
        """Hops to every node within ``radius`` of ``node``, ignoring direction (cached)."""
        if node not in self._nodes:
            return Ball({}, (), radius, self._adjacent, self._neighbours)
        cached = self._reach.get((node, radius))
        if cached is None:
            inner, rim = {node: 0}, [node]
            for hops in range(1, radius + 1):
                if hops == radius and sum(len(self._adjacent[n]) for n in rim) > LAST_HOP_LISTED:
                    break  # beside a hub: the last hop is known by the rim, not listed
                reached = []
                for near in rim:
                    for other in self._adjacent[near]:
                        if other not in inner:
                            inner[other] = hops
                            reached.append(other)
                rim = reached
            else:
                rim = []  # all listed
            ball = Ball(inner, rim, radius, self._adjacent, self._neighbours)
            cached = self._reach.put((node, radius), ball)
        return cached

    def cycles(self) -> list[list[str]]:
        """Dependency cycles, each starting at its smallest name, so reports are stable."""
        rotated = []
        for cycle in nx.simple_cycles(self.graph):
            start = cycle.index(min(cycle))
            rotated.append(cycle[start:] + cycle[:start])
        return sorted(rotated)
