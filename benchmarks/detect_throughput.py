"""Detection throughput and memory: the default anomaly rule vs a per-sample river loop.

    python benchmarks/detect_throughput.py [--series 10000] [--ticks 200] [--memory-series 100000]

One core (the process is pinned when the OS allows). Three figures, printed side by side:

* the anomaly model alone, one sample for each of --series series per tick (numpy columns);
* the daemon's whole detection path: ``AnomalyRules.observe`` on a ``SampleBatch`` of the
  same series, series lookup and alert building included (each batch's series are fresh
  objects, as a scrape makes them);
* river's HalfSpaceTrees scored and learned sample by sample (the usual river loop).

The ticks run across midnight from a Friday into a Saturday (UTC), so half the samples
also read and learn the weekend profile. Memory: RSS growth and the model's own bytes for
--memory-series series after a Friday and a Saturday of five-minute samples have touched
every time-of-day slot, weekend ones included.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import psutil
from rich.console import Console
from rich.table import Table

from sentinel.detect.anomaly import AnomalyRuleConfig, AnomalyRules
from sentinel.detect.anomaly_model import MultiScaleModel
from sentinel.model import SampleBatch, Series

STEP = 300.0
SATURDAY = 2 * 86400.0  # 1970-01-01 was a Thursday
FRESH_COPIES = 8  # distinct copies of the series set, taken in turn


def values(rng: np.random.Generator, series: int, tick: int) -> np.ndarray:
    daily = np.sin(2 * np.pi * (tick * STEP % 86400) / 86400)
    return 50 + 20 * daily + rng.normal(0, 3, series)


def model_rate(series: int, ticks: int) -> float:
    rng = np.random.default_rng(1)
    model = MultiScaleModel(capacity=series)
    model.add(series)
    index = np.arange(series)
    inputs = [values(rng, series, t) for t in range(ticks)]
    start = SATURDAY - ticks // 2 * STEP
    started = time.process_time()
    for tick, x in enumerate(inputs):
        model.update(index, np.full(series, start + tick * STEP), x)
    return series * ticks / (time.process_time() - started)


def rules_rate(series: int, ticks: int) -> tuple[float, int]:
    rng = np.random.default_rng(1)
    rules = AnomalyRules.from_configs([AnomalyRuleConfig(name="Anomaly")])
    # Collectors build every scrape's series afresh (new objects, equal to the known ones),
    # so the rule first sees one copy of the series set and is then fed other copies.
    first, *copies = [
        tuple(
            Series.of("cpu_busy_percent", {"host": f"h{i}", "job": "node"}) for i in range(series)
        )
        for _ in range(1 + FRESH_COPIES)
    ]
    start = SATURDAY - ticks // 2 * STEP
    at = [start + tick * STEP for tick in range(-1, ticks)]
    rules.observe(SampleBatch(first, np.full(series, at[0]), values(rng, series, -1)), at[0])
    batches = [
        SampleBatch(
            copies[tick % len(copies)], np.full(series, at[tick + 1]), values(rng, series, tick)
        )
        for tick in range(ticks)
    ]
    alerts = 0
    started = time.process_time()
    for tick, batch in enumerate(batches):
        alerts += len(rules.observe(batch, now=at[tick + 1]))
    return series * ticks / (time.process_time() - started), alerts


def river_rate(samples: int) -> float:
    from river import anomaly, preprocessing

    rng = np.random.default_rng(1)
    model = preprocessing.MinMaxScaler() | anomaly.HalfSpaceTrees(seed=42)
    inputs = [{"value": float(v)} for v in values(rng, samples, 0)]
    started = time.process_time()
    for features in inputs:
        model.score_one(features)
        model.learn_one(features)
    return samples / (time.process_time() - started)


def memory(series: int) -> tuple[float, int]:
    process = psutil.Process()
    before = process.memory_info().rss
    model = MultiScaleModel(capacity=series)
    model.add(series)
    index = np.arange(series)
    rng = np.random.default_rng(2)
    friday = SATURDAY - 86400.0
    for tick in range(int(2 * 86400 / STEP)):
        model.update(index, np.full(series, friday + tick * STEP), values(rng, series, tick))
    return (process.memory_info().rss - before) / series, model.nbytes // series


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, default=10_000)
    parser.add_argument("--ticks", type=int, default=200)
    parser.add_argument("--memory-series", type=int, default=100_000)
    parser.add_argument("--river-samples", type=int, default=20_000)
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    console = Console(width=120)
    model = model_rate(args.series, args.ticks)
    rules, alerts = rules_rate(args.series, args.ticks)
    river = river_rate(args.river_samples)
    table = Table(title=f"Detection throughput, one core, {args.series:,} series")
    table.add_column("Path")
    table.add_column("Samples/s", justify="right")
    table.add_column("vs river", justify="right")
    table.add_row(
        "sentinel anomaly model (numpy columns)", f"{model:,.0f}", f"{model / river:.0f}×"
    )
    table.add_row(
        f"sentinel AnomalyRules.observe ({alerts} alerts)", f"{rules:,.0f}", f"{rules / river:.0f}×"
    )
    table.add_row("river HalfSpaceTrees, per-sample loop", f"{river:,.0f}", "1×")
    console.print(table)
    rss, own = memory(args.memory_series)
    console.print(
        f"memory for {args.memory_series:,} series after a Friday and a Saturday of samples: "
        f"{rss:,.0f} bytes RSS a series ({own:,} bytes of model state)"
    )


if __name__ == "__main__":
    main()
