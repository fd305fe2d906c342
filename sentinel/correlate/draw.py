"""A picture of the part of the topology a problem touches, for problem reviews."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import networkx as nx

from sentinel.correlate.topology import Topology

ROOT_COLOUR, AFFECTED_COLOUR, CONTEXT_COLOUR = "#d62728", "#ff9f43", "#c8d6e5"
FOLDED_COLOUR = "#dfe4ea"
# Nodes a picture names; the rest fold into "+N more" beside the nearest named one.
DRAWN_AT_MOST = 40


def affected_subgraph(topology: Topology, root: str, services: Sequence[str]) -> nx.DiGraph:
    """The root, the affected services and every dependency path between them."""
    nodes = {root, *services}
    graph = topology.graph
    for service in services:
        if service in graph and root in graph and nx.has_path(graph, service, root):
            for path in nx.all_shortest_paths(graph, service, root):
                nodes.update(path)
    sub = nx.DiGraph(graph.subgraph(n for n in nodes if n in graph))
    sub.add_nodes_from(nodes)  # services outside the topology still show
    return sub


def folded(sub: nx.DiGraph, root: str) -> nx.DiGraph:
    """``sub`` naming at most ``DRAWN_AT_MOST`` nodes, the root and those nearest it (hops
    either way, then name); each of the others folds into a "+N more" node beside
    the named node its way to the root passes last. A storm on a service thousands depend
    on affects thousands, and a picture of each is a blot that takes minutes to lay out.
    Folded nodes carry ``folded``: how many each stands for."""
    if len(sub) <= DRAWN_AT_MOST:
        return sub
    parent: dict[str, str] = {}
    hops: dict[str, int] = {}
    if root in sub:
        undirected = sub.to_undirected(as_view=True)
        parent = dict(nx.bfs_predecessors(undirected, root))
        hops = nx.single_source_shortest_path_length(undirected, root)
    far = len(sub) + 1
    order = sorted(sub.nodes, key=lambda n: (hops.get(n, far), n))
    named = set(order[:DRAWN_AT_MOST])
    beside: dict[str | None, int] = {}
    for node in order[DRAWN_AT_MOST:]:
        anchor: str | None = parent.get(node)
        while anchor is not None and anchor not in named:
            anchor = parent.get(anchor)
        beside[anchor] = beside.get(anchor, 0) + 1
    picture = nx.DiGraph(sub.subgraph(named))
    for anchor, count in beside.items():
        label = f"+{count:,} more" + ("" if anchor is not None else " elsewhere")
        picture.add_node(label, folded=count)
        if anchor is not None:
            picture.add_edge(label, anchor)
    return picture


def draw_subgraph(topology: Topology, root: str, services: Sequence[str], path: Path) -> None:
    """Write the affected subgraph as PNG or SVG (by the file's suffix); edges point from a
    service to what it depends on, the root cause in red, affected services in orange."""
    suffix = path.suffix.lower().lstrip(".")
    if suffix not in ("png", "svg"):
        raise ValueError("the file name must end in .png or .svg")
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    sub = folded(affected_subgraph(topology, root, services), root)
    affected = set(services)
    colours = [
        ROOT_COLOUR
        if n == root
        else FOLDED_COLOUR
        if "folded" in sub.nodes[n]
        else AFFECTED_COLOUR
        if n in affected
        else CONTEXT_COLOUR
        for n in sub.nodes
    ]
    size = max(4.0, min(16.0, 1.5 * len(sub) ** 0.5 + 3))
    figure, axes = plt.subplots(figsize=(size, size * 0.75))
    try:
        positions = nx.spring_layout(sub, seed=1)
        nx.draw_networkx(
            sub, positions, ax=axes, node_color=colours, font_size=8, arrows=True, node_size=900
        )
        axes.set_title(f"root cause {root}: {len(services)} affected service(s)")
        axes.set_axis_off()
        figure.savefig(path, format=suffix, bbox_inches="tight")
    finally:
        plt.close(figure)
