"""Topology from what already describes it: an adjacency matrix, or Prometheus target labels.

Both produce ``ServiceConfig`` entries, and ``services_yaml`` writes them as a ``services:``
file for ``rules/``, where the configuration loader validates them like hand-written ones.
"""

from __future__ import annotations

import csv
import json
import urllib.error
import urllib.request
from collections.abc import Iterable
from enum import StrEnum
from pathlib import Path

import yaml

from sentinel.correlate.topology import ServiceConfig


class TopologyImportError(ValueError):
    """The source cannot be read as a topology; the message says where and why."""


class Orientation(StrEnum):
    """What a 1 at row i, column j of an adjacency matrix means."""

    DEPENDS_ON = "depends-on"  # i calls (depends on) j: a call graph
    PROPAGATES = "propagates"  # trouble in i propagates to j: j depends on i


REMOTE_SUFFIX = "_remote"  # how service maps drawn from X-Ray traces name untraced endpoints


def services_from_adjacency_csv(
    path: Path, orientation: Orientation = Orientation.DEPENDS_ON
) -> list[ServiceConfig]:
    """Services from a square adjacency matrix with node names in the first row and column
    (non-zero cells are edges). A name ending in ``_remote`` is an endpoint seen only from
    its callers (``remote``), as trace-derived service maps name them."""
    try:
        with path.open(newline="") as handle:
            rows = list(csv.reader(handle))
    except (OSError, UnicodeDecodeError) as error:
        raise TopologyImportError(f"{path}: {error}") from None
    if not rows or len(rows[0]) < 2:
        raise TopologyImportError(f"{path}:1: expected a header row of node names")
    names = rows[0][1:]
    depends: dict[str, list[str]] = {name: [] for name in names}
    for line, row in enumerate(rows[1:], start=2):
        if not row:
            continue
        if len(row) != len(names) + 1:
            raise TopologyImportError(
                f"{path}:{line}: {len(row) - 1} cells for {len(names)} columns"
            )
        source = row[0]
        depends.setdefault(source, [])
        for name, cell in zip(names, row[1:], strict=True):
            try:
                edge = float(cell or 0) != 0
            except ValueError:
                raise TopologyImportError(f"{path}:{line}: {cell!r} is not a number") from None
            if not edge:
                continue
            if orientation == Orientation.DEPENDS_ON:
                depends[source].append(name)
            else:
                depends[name].append(source)
    return [
        ServiceConfig(name=n, depends_on=sorted(set(d)), remote=n.endswith(REMOTE_SUFFIX))
        for n, d in depends.items()
    ]


def services_from_prometheus(url: str, timeout: float = 10.0) -> list[ServiceConfig]:
    """Services from the labels of a Prometheus server's active targets: ``service`` (else
    ``job``) names the node; optional ``depends_on`` (comma-separated), ``tier``, ``owner``,
    ``remote`` ("true": an endpoint probed from outside, such as a blackbox target)."""
    endpoint = url.rstrip("/") + "/api/v1/targets?state=active"
    try:
        with urllib.request.urlopen(endpoint, timeout=timeout) as response:
            payload = json.load(response)
        targets = payload["data"]["activeTargets"]
    except (OSError, urllib.error.URLError, ValueError, KeyError, TypeError) as error:
        raise TopologyImportError(f"{endpoint}: cannot read targets ({error})") from None
    merged: dict[str, dict] = {}
    for target in targets:
        labels = target.get("labels") or {}
        name = labels.get("service") or labels.get("job")
        if not name:
            continue
        entry = merged.setdefault(name, {"name": name, "depends_on": set()})
        entry["depends_on"].update(
            d.strip() for d in labels.get("depends_on", "").split(",") if d.strip()
        )
        for field in ("tier", "owner"):
            if labels.get(field):
                entry[field] = labels[field]
        if labels.get("remote", "").lower() == "true":
            entry["remote"] = True
    try:
        return [
            ServiceConfig(**{**e, "depends_on": sorted(e["depends_on"])})
            for _, e in sorted(merged.items())
        ]
    except ValueError as error:
        raise TopologyImportError(f"{endpoint}: {error}") from None


def services_yaml(services: Iterable[ServiceConfig]) -> str:
    """A ``services:`` section for ``rules/``; dependencies named but not listed are added,
    so the file loads on its own."""
    entries = {s.name: s for s in services}
    for service in list(entries.values()):
        for dependency in service.depends_on:
            entries.setdefault(dependency, ServiceConfig(name=dependency))
    documents = []
    for service in entries.values():
        entry: dict = {"name": service.name}
        if service.tier != 2:
            entry["tier"] = service.tier
        if service.owner:
            entry["owner"] = service.owner
        if service.depends_on:
            entry["depends_on"] = list(service.depends_on)
        if service.remote:
            entry["remote"] = True
        documents.append(entry)
    return yaml.safe_dump({"services": documents}, sort_keys=False, allow_unicode=True)
