"""A picture of the part of the topology a problem touches, for problem reviews."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import networkx as nx

from sentinel.correlate.topology import Topology

ROOT_COLOUR, AFFECTED_COLOUR, CONTEXT_COLOUR = "#d62728", "#ff9f43", "#c8d6e5"


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


def draw_subgraph(topology: Topology, root: str, services: Sequence[str], path: Path) -> None:
    """Write the affected subgraph as PNG or SVG (by the file's suffix); edges point from a
    service to what it depends on, the root cause in red, affected services in orange."""
    suffix = path.suffix.lower().lstrip(".")
    if suffix not in ("png", "svg"):
        raise ValueError("the file name must end in .png or .svg")
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    sub = affected_subgraph(topology, root, services)
    colours = [
        ROOT_COLOUR if n == root else AFFECTED_COLOUR if n in services else CONTEXT_COLOUR
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
