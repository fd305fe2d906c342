"""Root-cause ranking on a PetShop-layout scenario, next to the published baseline.

    python benchmarks/petshop.py [DATASET_DIR] [--out FILE.json] [--rules DIR]

DATASET_DIR holds ``graph.csv``, ``noissue/metrics.csv`` and
``{train,test}/issue_N/{metrics.csv,target.json}`` (default:
../shared/data/petshop/dataset/low_traffic beside the project). sentinel's configured anomaly
rule learns normal behaviour from ``noissue``; each issue is then replayed through a copy of
that model, continuing its clock (whole days later, so time of day is kept). The alerts it
raises on the target and everything the target depends on are ranked by sentinel's
correlator over the topology imported from ``graph.csv`` (a row calls, i.e. depends on, the
columns marked 1). Labels (``target.json`` root causes) are read only to score the result.

Specificity: the model learns from the first 70% of ``noissue`` and the rest is cut into
windows as long as an issue; a window is clean when no target node alerts in it.

The issues are ranked once more after the model learned ``noissue`` three times over: a
scenario with more normal data lets the rule's longer-horizon evidence (new extremes,
which wait for ``record_span``) count, and the ranking must hold up there too.
"""

from __future__ import annotations

import argparse
import copy
import csv
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import networkx as nx
import numpy as np
from rich.console import Console
from rich.table import Table

from sentinel.config import load_config
from sentinel.correlate import Topology
from sentinel.correlate.grouping import TopologyCorrelator
from sentinel.correlate.importers import services_from_adjacency_csv
from sentinel.detect.anomaly import AnomalyRuleConfig, AnomalyTrack, annotate
from sentinel.model import Alert, AlertStatus, RootCause

PUBLISHED = {"latency": (0.571, 0.571), "availability": (0.833, 1.0)}
DAY = 86400.0
TRAINING_SHARE = 0.7
LONGER_HISTORY = 3  # times noissue is learned for the longer-history figures
METHODS = ("sentinel", "strongest")

Column = tuple[str, str, str]  # node, metric, statistic


@dataclass
class Metrics:
    """One ``metrics.csv``: three header rows (node, metric, statistic), then samples."""

    columns: list[Column]
    ts: np.ndarray
    values: np.ndarray  # rows × columns, NaN where missing

    @classmethod
    def read(cls, path: Path) -> Metrics:
        with path.open(newline="") as handle:
            rows = list(csv.reader(handle))
        columns = list(zip(rows[0][1:], rows[1][1:], rows[2][1:], strict=True))
        body = [r for r in rows[3:] if r and r[0] and r[0] != "unix_timestamp"]
        ts = np.array([float(r[0]) for r in body])
        values = np.array([[float(x) if x else np.nan for x in r[1:]] for r in body])
        return cls(columns, ts, values.reshape(len(body), len(columns)))

    def rows(self, start: int = 0, stop: int | None = None) -> Metrics:
        return Metrics(self.columns, self.ts[start:stop], self.values[start:stop])


@dataclass
class Seen:
    """What the model said about one series during a replay."""

    score: float
    value: float
    expected: float
    sigmas: float
    reason: str  # the model's, at the highest score
    onset: float | None  # when an alert started, if one did


class Replayer:
    """An anomaly rule's model over every column of a scenario."""

    def __init__(self, rule: AnomalyRuleConfig, columns: list[Column]) -> None:
        self.track = AnomalyTrack(rule)
        self.columns = sorted(set(columns))
        self.index = {c: i for i, c in enumerate(self.columns)}
        self.track.add(len(self.columns))
        self.clock = -np.inf

    def replay(self, metrics: Metrics) -> dict[Column, Seen]:
        """Feed samples row by row, shifted by whole days to continue the model's clock."""
        shift = 0.0
        if len(metrics.ts) and metrics.ts[0] <= self.clock:
            shift = np.ceil((self.clock - metrics.ts[0]) / DAY + 1e-9) * DAY
        positions = [self.index.get(c, -1) for c in metrics.columns]
        seen: dict[Column, Seen] = {}
        for row, ts in enumerate(metrics.ts):
            keep = [
                (p, v)
                for p, v in zip(positions, metrics.values[row], strict=True)
                if p >= 0 and not np.isnan(v)
            ]
            if not keep:
                continue
            index = np.array([p for p, _ in keep])
            values = np.array([v for _, v in keep])
            moved = self.track.step(index, np.full(len(index), ts + shift), values)
            for j, column in enumerate(index):
                key = self.columns[column]
                before = seen.get(key)
                onset = before.onset if before else None
                if moved.started[j] and onset is None:
                    onset = ts + shift
                score = float(moved.scores.score[j])
                if before is None or score > before.score:
                    value = float(values[j])
                    seen[key] = Seen(
                        score,
                        value,
                        float(moved.scores.expected[j]),
                        float(moved.scores.sigmas[j]),
                        moved.scores.reason(j, value),
                        onset,
                    )
                else:
                    before.onset = onset
        self.clock = metrics.ts[-1] + shift if len(metrics.ts) else self.clock
        return seen


def alerts_from(
    seen: dict[Column, Seen], rule: AnomalyRuleConfig, nodes: set[str], since: float = -np.inf
) -> list[Alert]:
    """The alerts the rule raised on the given nodes from ``since`` on, as the daemon would
    have them: its labels, and its annotations rendered with the model's reason."""
    alerts = []
    for (node, metric, statistic), one in seen.items():
        if one.onset is None or one.onset < since or node not in nodes:
            continue
        labels = {
            "metric": metric,
            "service": node,
            "statistic": statistic,
            "alertname": rule.name,
            "severity": rule.severity.value,
        }
        alerts.append(
            Alert(
                labels=labels,
                annotations=annotate(
                    rule, labels, one.value, one.score, one.expected, one.sigmas, one.reason
                ),
                status=AlertStatus.FIRING,
                starts_at=one.onset,
                source=f"anomaly:{rule.name}",
                score=one.score,
            )
        )
    return alerts


def strongest_first(alerts: list[Alert]) -> tuple[RootCause, ...]:
    """Baseline in the same harness: nodes by their strongest anomaly score, no graph."""
    best: dict[str, float] = {}
    for alert in alerts:
        node = alert.labels["service"]
        best[node] = max(best.get(node, 0.0), alert.score)
    return tuple(RootCause(n, s) for n, s in sorted(best.items(), key=lambda kv: (-kv[1], kv[0])))


def main() -> None:
    default_dir = Path(__file__).resolve().parents[2] / "shared/data/petshop/dataset/low_traffic"
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset", nargs="?", type=Path, default=default_dir)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--rules", type=Path, action="append")
    args = parser.parse_args()
    console = Console(width=120)
    rules = [r for r in load_config(args.rules).rules if isinstance(r, AnomalyRuleConfig)]
    if not rules:
        sys.exit("the configuration has no anomaly rule")
    rule = rules[0]
    topology = Topology.from_services(services_from_adjacency_csv(args.dataset / "graph.csv"))
    correlator = TopologyCorrelator(topology)
    normal = Metrics.read(args.dataset / "noissue" / "metrics.csv")
    issues = sorted(
        (p.parent for p in args.dataset.glob("*/issue_*/target.json")),
        key=lambda p: (p.parent.name, int(p.name.split("_")[1])),
    )
    started = time.process_time()
    trained = Replayer(rule, normal.columns)
    trained.replay(normal)
    rankings, tally = rank_issues(trained, rule, correlator, issues)
    # The same issues after a longer normal history: the rule has then seen more than
    # ``record_span`` of normal data, so its evidence of new extremes counts as well.
    longer = Replayer(rule, normal.columns)
    for _ in range(LONGER_HISTORY):
        longer.replay(normal)
    _, tally_longer = rank_issues(longer, rule, correlator, issues)
    cpu = time.process_time() - started

    targets = {json.loads((i / "target.json").read_text())["target"]["node"] for i in issues}
    clean, windows = specificity(rule, normal, targets, window=_issue_length(issues))

    table = Table(title=f"PetShop root cause ({args.dataset.name}): top-1 / top-3")
    for column in (
        "split",
        "target metric",
        "issues",
        "sentinel",
        "strongest anomaly",
        "published graph traversal",
    ):
        table.add_column(column, justify="right" if column != "split" else "left")
    for split in ("train", "test", "all"):
        for metric in ("latency", "availability", "all"):
            counts = {
                method: [
                    sum(
                        v[k]
                        for (s, m, me), v in tally.items()
                        if me == method and split in (s, "all") and metric in (m, "all")
                    )
                    for k in range(3)
                ]
                for method in METHODS
            }
            total = counts["sentinel"][2]
            if not total:
                continue
            published = PUBLISHED.get(metric) if split == "all" else None
            table.add_row(
                split,
                metric,
                str(total),
                *[f"{c[0] / total:.3f} / {c[1] / total:.3f}" for c in counts.values()],
                f"{published[0]:.3f} / {published[1]:.3f}" if published else "",
                style="bold" if metric == "all" else None,
            )
    console.print(table)
    console.print(
        f"specificity on normal data: {clean}/{windows} windows of {_issue_length(issues)} "
        f"samples with no alert on a target node ({clean / max(windows, 1):.1%})"
    )
    days = (normal.ts[-1] - normal.ts[0]) / DAY
    console.print(
        f"after a longer normal history (noissue learned {LONGER_HISTORY} times over, "
        f"{LONGER_HISTORY * days:.1f} days): "
        + ", ".join(f"{method} {_accuracy(tally_longer, method)}" for method in METHODS)
    )
    console.print(f"{len(issues)} issues replayed twice in {cpu:.1f} CPU s")
    if args.out:
        args.out.write_text(json.dumps(rankings, indent=1))
        console.print(f"rankings written to {args.out}")


def rank_issues(
    trained: Replayer, rule: AnomalyRuleConfig, correlator: TopologyCorrelator, issues: list[Path]
) -> tuple[dict[str, list[dict]], dict[tuple[str, str, str], list[int]]]:
    """Each issue replayed through a copy of ``trained`` and its alerts ranked: the
    rankings by issue, and top-1 / top-3 hits and issues by (split, metric, method)."""
    topology = correlator.topology
    rankings: dict[str, list[dict]] = {}
    tally: dict[tuple[str, str, str], list[int]] = {}
    for issue in issues:
        target = json.loads((issue / "target.json").read_text())
        node, metric = target["target"]["node"], target["target"]["metric"]
        truth = target["root_cause"]["node"]
        replayer = copy.deepcopy(trained)
        metrics = Metrics.read(issue / "metrics.csv")
        seen = replayer.replay(metrics)
        # The target's alert opened the incident at its timestamp; alerts join within the
        # correlation window of it (older ones would already be incidents of their own).
        shift = replayer.clock - metrics.ts[-1]
        opened = target["target"]["timestamp"] + shift
        nodes = {node} | _below(topology, node)
        alerts = alerts_from(seen, rule, nodes, since=opened - correlator.config.window)
        ranked = correlator.rank(alerts)
        rankings[f"{issue.parent.name}/{issue.name}"] = [
            {"node": c.node, "score": c.score, "evidence": list(c.evidence)} for c in ranked
        ]
        for method, order in zip(METHODS, (ranked, strongest_first(alerts)), strict=True):
            names = [c.node for c in order]
            hits = tally.setdefault((issue.parent.name, metric, method), [0, 0, 0])
            hits[0] += names[:1] == [truth]
            hits[1] += truth in names[:3]
            hits[2] += 1
    return rankings, tally


def _accuracy(tally: dict[tuple[str, str, str], list[int]], method: str) -> str:
    counts = [v for key, v in tally.items() if key[2] == method]
    top1, top3, total = (sum(v[k] for v in counts) for k in range(3))
    return f"{top1 / total:.3f} / {top3 / total:.3f}"


def _below(topology: Topology, node: str) -> set[str]:
    """Everything ``node`` depends on, directly or not: where its root cause can be."""
    return set(nx.descendants(topology.graph, node)) if node in topology else set()


def _issue_length(issues: list[Path]) -> int:
    lengths = [len(Metrics.read(i / "metrics.csv").ts) for i in issues]
    return int(np.median(lengths)) if lengths else 5


def specificity(
    rule: AnomalyRuleConfig, normal: Metrics, targets: set[str], window: int
) -> tuple[int, int]:
    """Windows of held-out normal data in which no target node alerts."""
    cut = int(len(normal.ts) * TRAINING_SHARE)
    replayer = Replayer(rule, normal.columns)
    replayer.replay(normal.rows(0, cut))
    clean = windows = 0
    for start in range(cut, len(normal.ts) - window + 1, window):
        seen = replayer.replay(normal.rows(start, start + window))
        windows += 1
        clean += not alerts_from(seen, rule, targets)
    return clean, windows


if __name__ == "__main__":
    main()
