"""A storm on a service thousands depend on: what grouping it into one incident costs.

    python benchmarks/wide_storm.py [--sizes 500 2000 10000] [--batch 64]
                                    [--baseline-up-to 1000] [--evaluation 15]
                                    [--mid-tier 20]

``dns`` fails and every service that depends on it follows within a minute, one alert
each, sent in batches of ``--batch`` (Prometheus's) through the daemon's pipeline on a
store on disk. Each storm runs three ways: with every alert beginning at a moment of its
own; as Prometheus reports them, beginning at the rule evaluation that found them (every
``--evaluation`` seconds), so that hundreds share each onset; and where each dependant
also depends on one of ``--mid-tier`` services that fail with dns, so that dns's
weighing reads how promptly each followed it, one by one. For each number
of dependants: the seconds the pipeline took, alerts/s, the slowest batch (the daemon
handles nothing else meanwhile), how many times the incident was ranked, the process's
peak memory, and what it grouped: one incident naming dns. Then the storm heals: the
dependants recover in the order they failed, five minutes later, then dns, in batches of
the same size; the seconds that took, its slowest batch, and whether the incident
resolved. Each join is ranked as it comes (placement reads the ranking), a wide
incident's by the alert that joined, its ranking kept. Side by side, up to
``--baseline-up-to`` dependants (its time grows with the square of the size), the same
stream ranked at each join from all the incident holds, as before wide incidents kept
their ranking. Each run is a process of its own, so its peak memory is its own,
and freezes what exists once the daemon is built (``gc.freeze``), as ``sentinel run``
does.
"""

from __future__ import annotations

import argparse
import gc
import math
import resource
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from rich.console import Console
from rich.table import Table

import sentinel.pipeline
from sentinel.config import Config
from sentinel.correlate import ServiceConfig
from sentinel.daemon import Daemon
from sentinel.model import Alert, AlertStatus
from sentinel.store import Store


def down(service: str, at: float) -> Alert:
    labels = {"alertname": "Down", "severity": "critical", "service": service}
    return Alert(labels, {"summary": f"{service} down"}, AlertStatus.FIRING, at)


def run(
    dependants: int, batch: int, at_each_join: bool, evaluation: float = 0.0, mid: int = 0
) -> dict[str, float | str]:
    if at_each_join:
        sentinel.pipeline.RANKING_KEPT_FROM = sys.maxsize
    names = [f"svc-{n}" for n in range(dependants)]
    mids = [f"mid-{n}" for n in range(mid)]  # each dependant also depends on one, failing
    services = [
        ServiceConfig(name="dns"),
        *(ServiceConfig(name=m, depends_on=("dns",)) for m in mids),
        *(
            ServiceConfig(name=n, depends_on=("dns", mids[i % mid]) if mid else ("dns",))
            for i, n in enumerate(names)
        ),
    ]
    onsets = [1.0 + 60.0 * i / dependants for i in range(dependants)]
    if evaluation:  # the evaluation after each one, as Prometheus's ``activeAt``
        onsets = [evaluation * math.ceil(at / evaluation) for at in onsets]
    mid_onsets = [0.5 + 0.01 * i for i in range(mid)]
    stream = [down("dns", 0.0), *map(down, mids, mid_onsets), *map(down, names, onsets)]
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp) / "sentinel.db")
        pipeline = Daemon(Config(services=services), store, clock=lambda: 0.0).pipeline
        gc.freeze()  # as ``sentinel run`` does once it has built the daemon
        correlator, rankings = pipeline.correlator, []
        rank, rank_added = correlator.rank, correlator.rank_added
        correlator.rank = lambda *a, **k: rankings.append(1) or rank(*a, **k)  # type: ignore[method-assign]

        def added(*args, **kwargs):  # ranked again by what joined (None: from all it holds)
            ranked = rank_added(*args, **kwargs)
            rankings.extend([1] if ranked is not None else [])
            return ranked

        correlator.rank_added = added  # type: ignore[method-assign]
        batches = _send(pipeline, stream, batch)
        incidents = store.unresolved_incidents()
        healed = [
            a.replace(status=AlertStatus.RESOLVED, ends_at=a.starts_at + 300.0)
            for a in [*stream[1:], stream[0]]
        ]
        healing = _send(pipeline, healed, batch)
        resolved = store.count("incidents") - len(store.unresolved_incidents())
        store.close()
    named = (
        incidents[0].root_causes[0].node if len(incidents) == 1 else f"{len(incidents)} incidents"
    )
    return {
        "seconds": sum(batches),
        "alerts_per_s": len(stream) / sum(batches),
        "slowest": max(batches),
        "rankings": len(rankings),
        "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "named": named,
        "heal_seconds": sum(healing),
        "heal_slowest": max(healing),
        "resolved": resolved,
    }


def _send(pipeline: sentinel.pipeline.Pipeline, stream: list[Alert], batch: int) -> list[float]:
    """The stream in batches, each sent as its last alert happened: seconds each took."""
    took = []
    for start in range(0, len(stream), batch):
        sent = stream[start : start + batch]
        last = sent[-1]
        started = time.perf_counter()
        pipeline.alerts(sent, now=(last.ends_at or last.starts_at) + 1.0)
        took.append(time.perf_counter() - started)
    return took


def in_own_process(
    dependants: int, batch: int, at_each_join: bool, evaluation: float, mid: int
) -> dict[str, float | str]:
    with ProcessPoolExecutor(max_workers=1) as pool:
        return pool.submit(run, dependants, batch, at_each_join, evaluation, mid).result()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[500, 2000, 10000])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--baseline-up-to", type=int, default=1000)
    parser.add_argument(
        "--evaluation", type=float, default=15.0, help="seconds between rule evaluations"
    )
    parser.add_argument(
        "--mid-tier", type=int, default=20, help="services between dns and its dependants"
    )
    args = parser.parse_args()
    table = Table(title=f"One service fails and its dependants follow, in batches of {args.batch}")
    for column in ("dependants", "they depend on", "onsets", "each join ranked by", "seconds",
                   "alerts/s", "slowest batch", "rankings", "peak memory", "grouped",
                   "healed in", "slowest heal batch", "resolved"):  # fmt: skip
        table.add_column(column, justify="right")
    mid, apart, shared = args.mid_tier, "each its own", f"every {args.evaluation:g} s"
    for size in args.sizes:
        ways = [(0, apart, 0.0, "what joined", False)]
        if size <= args.baseline_up_to:
            ways.append((0, apart, 0.0, "all it holds", True))
        ways.append((0, shared, args.evaluation, "what joined", False))
        ways.append((mid, apart, 0.0, "what joined", False))
        for mids, onsets, evaluation, way, at_each_join in ways:
            r = in_own_process(size, args.batch, at_each_join, evaluation, mids)
            table.add_row(
                f"{size:,}",
                f"dns and one of {mids} failing" if mids else "dns",
                onsets,
                way,
                f"{r['seconds']:.2f}",
                f"{r['alerts_per_s']:,.0f}",
                f"{r['slowest'] * 1e3:,.0f} ms",
                f"{r['rankings']:,}",
                f"{r['peak_mb']:,.0f} MB",
                f"one incident naming {r['named']}" if r["named"] == "dns" else str(r["named"]),
                f"{r['heal_seconds']:.2f} s",
                f"{r['heal_slowest'] * 1e3:,.0f} ms",
                f"{r['resolved']} incident" + ("" if r["resolved"] == 1 else "s"),
            )
    Console(width=230).print(table)


if __name__ == "__main__":
    main()
