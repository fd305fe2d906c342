"""The Numenta Anomaly Benchmark scorer, rebuilt from its published description.

NAB rewards a detector for flagging each labelled anomaly window early and charges it for
every flag outside a window, less so close behind a window it just caught. Each window
counts once, at its earliest detection; the first ``min(⌊0.15·N⌋, 750)`` rows of a file
are a probationary period that is never scored. One threshold is chosen for the whole
corpus, and the raw total is normalised so that the null detector (never fires) scores 0
and a perfect one (fires on each window's first row) scores 100.

Scores are computed for many thresholds at once: a window's credit at threshold ``t`` is
the weight of the first row whose running maximum reaches ``t``, and the false-positive
charge is a suffix sum over rows sorted by score.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np


@dataclass(frozen=True, slots=True)
class Profile:
    """Weights of a true positive, a false positive and a missed window."""

    name: str
    tp: float
    fp: float
    fn: float


PROFILES = (
    Profile("standard", 1.0, 0.11, 1.0),
    Profile("reward_low_FP_rate", 1.0, 0.22, 1.0),
    Profile("reward_low_FN_rate", 1.0, 0.11, 2.0),
)


def scaled_sigmoid(y: np.ndarray) -> np.ndarray:
    """NAB's S(y) = 2/(1+e^{5y}) − 1, and −1 once more than three window widths past.

    >>> [round(float(v), 4) for v in scaled_sigmoid(np.array([-1.0, 0.0, 4.0]))]
    [0.9866, 0.0, -1.0]
    """
    y = np.asarray(y, dtype=np.float64)
    with np.errstate(over="ignore"):
        value = 2.0 / (1.0 + np.exp(5.0 * y)) - 1.0
    return np.where(y > 3.0, -1.0, value)


def probation(rows: int) -> int:
    """Rows at the start of a file that are not scored.

    >>> probation(1000), probation(22000)
    (150, 750)
    """
    return min(math.floor(0.15 * rows), 750)


@dataclass(frozen=True)
class LabelledFile:
    """One file's length and its anomaly windows as inclusive row ranges."""

    name: str
    rows: int
    windows: tuple[tuple[int, int], ...]


def windows_as_rows(
    timestamps: Sequence[float], windows: Iterable[tuple[float, float]]
) -> tuple[tuple[int, int], ...]:
    """Inclusive row ranges covered by time windows ``[start, end]``.

    >>> windows_as_rows([0, 10, 20, 30, 40], [(10, 30)])
    ((1, 3),)
    """
    ts = np.asarray(timestamps, dtype=np.float64)
    ranges = []
    for start, end in windows:
        first = int(np.searchsorted(ts, start, side="left"))
        last = int(np.searchsorted(ts, end, side="right")) - 1
        if first <= last:
            ranges.append((first, last))
    return tuple(ranges)


def parse_nab_time(text: str) -> float:
    """Unix seconds from NAB's ``2014-04-10 07:15:00.000000`` (UTC) or plain seconds."""
    try:
        return float(text)
    except ValueError:
        return datetime.fromisoformat(text.strip()).replace(tzinfo=UTC).timestamp()


def load_windows(path: Path) -> dict[str, list[tuple[float, float]]]:
    """``combined_windows.json``: relative file name → list of (start, end) in unix seconds."""
    raw: Mapping[str, list[list[str]]] = json.loads(path.read_text())
    return {
        name: [(parse_nab_time(a), parse_nab_time(b)) for a, b in pairs]
        for name, pairs in raw.items()
    }


@dataclass
class _FileParts:
    """Per-file pieces that do not depend on the threshold."""

    fp_scores: np.ndarray  # detector scores of scored rows outside every window
    fp_weights: np.ndarray  # their unweighted charge (negative)
    window_maxima: list[np.ndarray]  # running max of scores over each window's scored rows
    window_weights: list[np.ndarray]  # the credit of detecting at each of those rows
    windows: int


def _parts(labelled: LabelledFile, scores: np.ndarray) -> _FileParts:
    n = labelled.rows
    if len(scores) != n:
        raise ValueError(f"{labelled.name}: {len(scores)} scores for {n} rows")
    first_scored = probation(n)
    index = np.arange(n)
    inside = np.zeros(n, dtype=bool)
    # For rows outside windows: distance past the previous window, relative to its width.
    previous_right = np.full(n, -1, dtype=np.int64)
    previous_width = np.ones(n, dtype=np.int64)
    maxima, weights = [], []
    for left, right in labelled.windows:
        width = right - left + 1
        inside[left : right + 1] = True
        previous_right[right + 1 :] = right
        previous_width[right + 1 :] = width
        rows = index[max(left, first_scored) : right + 1]
        position = -(right - rows + 1) / width
        weights.append(scaled_sigmoid(position) / scaled_sigmoid(np.array(-1.0)))
        maxima.append(np.maximum.accumulate(scores[rows]) if len(rows) else np.empty(0))
    outside = ~inside & (index >= first_scored)
    after = outside & (previous_right >= 0)
    charge = np.full(n, -1.0)
    distance = np.abs(previous_right[after] - index[after]) / np.maximum(
        previous_width[after] - 1, 1
    )
    charge[after] = scaled_sigmoid(distance)
    return _FileParts(scores[outside], charge[outside], maxima, weights, len(labelled.windows))


@dataclass(frozen=True)
class Sweep:
    """Totals at each threshold: summed credits, summed charges and missed windows."""

    thresholds: np.ndarray
    tp: np.ndarray
    fp: np.ndarray
    missed: np.ndarray
    windows: int

    def normalised(self, profile: Profile) -> np.ndarray:
        raw = profile.tp * self.tp + profile.fp * self.fp - profile.fn * self.missed
        null = -profile.fn * self.windows
        perfect = profile.tp * self.windows
        return 100.0 * (raw - null) / (perfect - null)

    def best(self, profile: Profile) -> tuple[float, float]:
        """(score, threshold) at the threshold that scores best under ``profile``."""
        values = self.normalised(profile)
        at = int(np.argmax(values))
        return float(values[at]), float(self.thresholds[at])

    def at(self, profile: Profile, threshold: float) -> float:
        """The normalised score at the swept threshold nearest ``threshold``."""
        at = int(np.argmin(np.abs(self.thresholds - threshold)))
        return float(self.normalised(profile)[at])


def sweep(
    corpus: Sequence[LabelledFile], scores: Mapping[str, np.ndarray], thresholds: np.ndarray
) -> Sweep:
    """Score a corpus at every threshold in ``thresholds`` (a row detects when score ≥ t)."""
    thresholds = np.asarray(thresholds, dtype=np.float64)
    tp = np.zeros(len(thresholds))
    fp = np.zeros(len(thresholds))
    missed = np.zeros(len(thresholds))
    windows = 0
    for labelled in corpus:
        parts = _parts(labelled, np.asarray(scores[labelled.name], dtype=np.float64))
        windows += parts.windows
        by_score = np.argsort(parts.fp_scores)
        charge_from = np.append(np.cumsum(parts.fp_weights[by_score][::-1])[::-1], 0.0)
        fp += charge_from[np.searchsorted(parts.fp_scores[by_score], thresholds, side="left")]
        for running_max, weight in zip(parts.window_maxima, parts.window_weights, strict=True):
            first = np.searchsorted(running_max, thresholds, side="left")
            hit = first < len(running_max)
            tp[hit] += weight[first[hit]]
            missed[~hit] += 1
    return Sweep(thresholds, tp, fp, missed, windows)
