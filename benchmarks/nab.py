"""sentinel's anomaly rules on the Numenta Anomaly Benchmark, next to the published scoreboard.

    python benchmarks/nab.py [NAB_DIR] [--rules DIR] [--skip-baseline]

NAB_DIR holds ``data/**.csv`` and ``labels/combined_windows.json`` (default:
../shared/data/nab beside the project). sentinel runs with the configuration users get
(embedded defaults unless --rules), learning online with the same parameters for every
file. river's HalfSpaceTrees runs in the same harness as a baseline. Every detector is scored
by ``sentinel.detect.nab`` with one threshold optimised over the whole corpus per profile.
sentinel's score is the column ``sentinel backtest`` writes (an onset's score where no alert
fires already, so at the rule's own threshold it marks exactly the alerts raised); it is
also scored at that default threshold, on the alerts with the rule's threshold optimised
(the rule's own state logic replayed over its recorded onsets at each threshold), and with
the threshold chosen on one half of the files and scored on the other. Its false-alarm rate
where nothing is wrong (white noise, and a daily cycle on a trend) is printed too, since
NAB charges false positives lightly and a pager does not.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from sentinel.config import load_config
from sentinel.detect.anomaly import AnomalyRuleConfig, move_alerts
from sentinel.detect.backtest import Recorded, Replayed, find_inputs, read_series, replay
from sentinel.detect.nab import (
    PROFILES,
    LabelledFile,
    Sweep,
    load_windows,
    sweep,
    windows_as_rows,
)

PUBLISHED = [
    ("ARTime", (74.9, 65.1, 80.4)),
    ("Numenta HTM", (70.5, 62.6, 75.2)),
    ("CAD OSE", (69.9, 67.0, 73.2)),
    ("KNN CAD", (58.0, None, None)),
    ("Random Cut Forest", (51.7, None, None)),
    ("Windowed Gaussian", (39.6, None, None)),
]


def thresholds(scores: dict[str, np.ndarray]) -> np.ndarray:
    """A fine even grid plus the scores' own quantiles, so no detector is swept coarsely."""
    every = np.concatenate(list(scores.values()))
    return np.unique(
        np.concatenate(
            [np.linspace(0.0, 1.0, 2001), np.quantile(every, np.linspace(0.9, 1.0, 2001))]
        )
    )


def held_out(corpus: list[LabelledFile], scores: dict[str, np.ndarray]) -> list[float]:
    """Standard score on alternate files with the threshold optimised on the others."""
    halves = [corpus[0::2], corpus[1::2]]
    grid = thresholds(scores)
    results = []
    for chosen_on, scored_on in (halves, halves[::-1]):
        _, threshold = sweep(chosen_on, scores, grid).best(PROFILES[0])
        results.append(sweep(scored_on, scores, grid).at(PROFILES[0], threshold))
    return results


RULE_THRESHOLDS = np.round(np.arange(0.30, 0.901, 0.02), 2)


def rule_sweep(
    corpus: list[LabelledFile],
    replayed: list[Replayed],
    rule: AnomalyRuleConfig,
    grid: np.ndarray = RULE_THRESHOLDS,
) -> Sweep:
    """The alerts ``rule`` raises with its threshold set to each value of ``grid`` (recovery
    as configured), replayed from the recorded scores by the rule's own state logic and
    scored like any detector's output: an optimised threshold for what users get."""
    rows, files = max(len(r.score) for r in replayed), len(replayed)

    def padded(arrays: list[np.ndarray]) -> np.ndarray:
        out = np.full((rows, files), np.nan)
        for column, values in enumerate(arrays):
            out[: len(values), column] = values
        return out

    ts = padded([r.recorded.ts for r in replayed])
    onset, level = padded([r.onset for r in replayed]), padded([r.level for r in replayed])
    thresholds = grid[:, None]  # one row of state per threshold, one column per file
    firing_since = np.full((len(grid), files), np.nan)
    last_high = np.full((len(grid), files), np.nan)
    raised = np.zeros((rows, len(grid), files), dtype=bool)
    for row in range(rows):
        present = ~np.isnan(ts[row])  # files that have ended keep their state
        started, _, since, high = move_alerts(
            rule, thresholds, ts[row], onset[row], level[row], firing_since, last_high
        )
        firing_since = np.where(present, since, firing_since)
        last_high = np.where(present, high, last_high)
        raised[row] = started & present
    names = [str(r.recorded.relative) for r in replayed]
    lengths = [len(r.score) for r in replayed]
    each = [
        sweep(
            corpus,
            {
                n: raised[:length, k, c].astype(np.float64)
                for c, (n, length) in enumerate(zip(names, lengths, strict=True))
            },
            np.array([0.5]),
        )
        for k in range(len(grid))
    ]
    return Sweep(
        thresholds=grid,
        tp=np.concatenate([one.tp for one in each]),
        fp=np.concatenate([one.fp for one in each]),
        missed=np.concatenate([one.missed for one in each]),
        windows=each[0].windows,
    )


def normal_alerts(
    rules: list[AnomalyRuleConfig], series: int = 50, rows: int = 6000, growing: bool = False
) -> float:
    """Alerts per 1,000 samples the configuration raises where nothing is wrong (five-minute
    steps): white noise (σ 2), or (``growing``) that noise on a daily cycle 20 high with a
    trend of its own per series, up to 14 a day either way, as traffic that grows or fades."""
    rng = np.random.default_rng(1)
    ts = np.arange(rows) * 300.0
    day = 2 * np.pi * ts / 86400.0
    normal = []
    for i in range(series):
        values = rng.normal(50, 2, rows)
        if growing:
            values += 10.0 * np.sin(day) + rng.uniform(-0.05, 0.05) * np.arange(rows)
        normal.append(Recorded(Path(f"normal-{i}.csv"), Path(f"normal-{i}.csv"), (), ts, values))
    alerts = sum(int(r.alert.sum()) for r in replay(rules, normal))
    return 1000.0 * alerts / (series * rows)


def half_space_trees(recorded: list[Recorded]) -> dict[str, np.ndarray]:
    """river's HalfSpaceTrees, one model per file, score then learn (its documented use)."""
    from river import anomaly, preprocessing

    scores = {}
    for one in recorded:
        model = preprocessing.MinMaxScaler() | anomaly.HalfSpaceTrees(seed=42)
        out = np.empty(len(one.values))
        for i, value in enumerate(one.values):
            features = {"value": float(value)}
            out[i] = model.score_one(features)
            model.learn_one(features)
        scores[str(one.relative)] = out
    return scores


def main() -> None:
    default_dir = Path(__file__).resolve().parents[2] / "shared" / "data" / "nab"
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("nab_dir", nargs="?", type=Path, default=default_dir)
    parser.add_argument("--rules", type=Path, action="append")
    parser.add_argument("--skip-baseline", action="store_true")
    args = parser.parse_args()
    console = Console(width=120)
    windows = load_windows(args.nab_dir / "labels" / "combined_windows.json")
    recorded = [read_series(path, rel) for path, rel in find_inputs([args.nab_dir / "data"])]
    recorded = [r for r in recorded if str(r.relative) in windows]
    corpus = [
        LabelledFile(str(r.relative), len(r.ts), windows_as_rows(r.ts, windows[str(r.relative)]))
        for r in recorded
    ]
    rules = [r for r in load_config(args.rules).rules if isinstance(r, AnomalyRuleConfig)]
    if not rules:
        sys.exit("the configuration has no anomaly rule")
    rows = sum(len(r.ts) for r in recorded)
    console.print(
        f"{len(corpus)} files, {rows:,} rows, {sum(len(f.windows) for f in corpus)} windows"
    )

    started = time.process_time()
    replayed = replay(rules, recorded)
    sentinel_cpu = time.process_time() - started
    sentinel_scores = {str(r.recorded.relative): r.score for r in replayed}
    sentinel = sweep(corpus, sentinel_scores, thresholds(sentinel_scores))
    default = rules[0].threshold

    table = Table(title="NAB v1.1 normalised scores (standard / reward low FP / reward low FN)")
    table.add_column("Detector")
    for profile in PROFILES:
        table.add_column(profile.name, justify="right")
    table.add_column("Threshold", justify="right")
    best = [sentinel.best(p) for p in PROFILES]
    table.add_row(
        "sentinel (optimised threshold)",
        *[f"{score:.2f}" for score, _ in best],
        " / ".join(f"{t:.3f}" for _, t in best),
        style="bold",
    )
    table.add_row(
        "sentinel (default threshold: the alerts raised)",
        *[f"{sentinel.at(p, default):.2f}" for p in PROFILES],
        f"{default:g}",
        style="bold",
    )
    if len(rules) == 1:  # the replayed scores are that one rule's
        by_rule = [rule_sweep(corpus, replayed, rules[0]).best(p) for p in PROFILES]
        table.add_row(
            "sentinel (alerts, threshold optimised)",
            *[f"{score:.2f}" for score, _ in by_rule],
            " / ".join(f"{t:.2f}" for _, t in by_rule),
            style="bold",
        )
    if not args.skip_baseline:
        started = time.process_time()
        hst_scores = half_space_trees(recorded)
        hst = sweep(corpus, hst_scores, thresholds(hst_scores))
        hst_cpu = time.process_time() - started
        hst_best = [hst.best(p) for p in PROFILES]
        table.add_row(
            "river HalfSpaceTrees (this run)",
            *[f"{score:.2f}" for score, _ in hst_best],
            " / ".join(f"{t:.3f}" for _, t in hst_best),
        )
    for name, figures in PUBLISHED:
        table.add_row(
            f"{name} (published)", *["" if f is None else f"{f:.1f}" for f in figures], ""
        )
    console.print(table)
    console.print(
        "sentinel, threshold chosen on one half of the files and scored on the other: "
        + " / ".join(f"{score:.2f}" for score in held_out(corpus, sentinel_scores))
        + " (standard profile: how one threshold carries to files it was not chosen on)"
    )
    console.print(f"sentinel: {rows / sentinel_cpu:,.0f} rows/s ({sentinel_cpu:.1f} CPU s)")
    for length in (6_000, 30_000):  # new extremes in noise grow rarer the longer it is watched
        console.print(
            f"sentinel on white noise: {normal_alerts(rules, rows=length):.3f} alerts per "
            f"1,000 samples (50 series x {length:,} samples, default configuration)"
        )
    console.print(
        "sentinel on a daily cycle with a trend (each day's peak a new high): "
        f"{normal_alerts(rules, growing=True):.3f} alerts per 1,000 samples (50 series x 6,000)"
    )
    if not args.skip_baseline:
        console.print(f"HalfSpaceTrees: {rows / hst_cpu:,.0f} rows/s ({hst_cpu:.1f} CPU s)")


if __name__ == "__main__":
    main()
