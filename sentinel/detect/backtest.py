"""Replay recorded series through the configured anomaly rules, as the daemon would.

Every input file is one series (``timestamp,value``; ISO time or unix seconds; a header row
is optional). Files run side by side as columns of one model, row by row, so a corpus of
many files costs little more than its longest file. Each output row carries the score and
``alert`` = 1 where the rule would have raised an alert. The score written is the onset
score where the rule's alert does not fire already: the model's score where an anomaly
starts, 0 while it goes on and while an earlier onset's alert still fires (an onset there
pages no one), so ``alert`` is 1 exactly where ``score`` reaches the rule's threshold and a
threshold swept over the column (as the NAB scorer does) sees what a pager would.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sentinel.detect.anomaly import AnomalyRuleConfig, AnomalyTrack
from sentinel.detect.nab import parse_nab_time


class SeriesError(ValueError):
    """A recorded series that cannot be read, with the file and line at fault."""

    def __init__(self, path: Path, line: int, message: str) -> None:
        super().__init__(f"{path}:{line}: {message}")


@dataclass(frozen=True)
class Recorded:
    path: Path
    relative: Path
    stamps: tuple[str, ...]  # as written in the input, for the output
    ts: np.ndarray
    values: np.ndarray


@dataclass(frozen=True)
class Replayed:
    recorded: Recorded
    score: np.ndarray  # the highest onset of the rules not firing already (the score column)
    alert: np.ndarray
    level: np.ndarray  # the highest anomaly score of the rules, onset or not
    onset: np.ndarray  # the highest onset of the rules, firing or not (to replay other rules)


def read_series(path: Path, relative: Path) -> Recorded:
    """One ``timestamp,value`` file, strictly: every data row must parse.

    Rows are replayed in file order, as they were recorded, even where a clock stepped back.
    """
    stamps: list[str] = []
    ts: list[float] = []
    values: list[float] = []
    try:
        with path.open(newline="") as handle:
            for line, row in enumerate(csv.reader(handle), start=1):
                if not row or (line == 1 and row[0].strip().lower() == "timestamp"):
                    continue
                if len(row) != 2:
                    raise SeriesError(
                        path, line, f"expected timestamp,value, got {len(row)} fields"
                    )
                try:
                    when, value = parse_nab_time(row[0]), float(row[1])
                except ValueError:
                    raise SeriesError(
                        path, line, f"cannot read {row!r} as timestamp,value"
                    ) from None
                if not math.isfinite(value):
                    raise SeriesError(path, line, f"value {row[1]!r} is not a finite number")
                stamps.append(row[0].strip())
                ts.append(when)
                values.append(value)
    except (OSError, UnicodeDecodeError) as exc:
        raise SeriesError(path, 0, f"cannot read: {exc}") from None
    return Recorded(path, relative, tuple(stamps), np.array(ts), np.array(values))


def find_inputs(paths: Sequence[Path]) -> list[tuple[Path, Path]]:
    """(file, path relative to its argument) for each CSV named or found under a directory."""
    found: list[tuple[Path, Path]] = []
    for path in paths:
        if path.is_dir():
            found += [(f, f.relative_to(path)) for f in sorted(path.rglob("*.csv")) if f.is_file()]
        else:
            found.append((path, Path(path.name)))
    return found


def replay(
    rules: Sequence[AnomalyRuleConfig],
    recorded: Sequence[Recorded],
    advance: Callable[[int], None] | None = None,
) -> list[Replayed]:
    """Score every file under every rule; a row's score is the highest of the rules'."""
    rows = max((len(r.ts) for r in recorded), default=0)
    ts = np.full((rows, len(recorded)), np.nan)
    values = np.full((rows, len(recorded)), np.nan)
    for column, one in enumerate(recorded):
        ts[: len(one.ts), column] = one.ts
        values[: len(one.values), column] = one.values
    score = np.zeros((rows, len(recorded)))
    onset = np.zeros((rows, len(recorded)))
    level = np.zeros((rows, len(recorded)))
    alert = np.zeros((rows, len(recorded)), dtype=np.int8)
    tracks = [AnomalyTrack(rule) for rule in rules]
    for track in tracks:
        track.add(len(recorded))
    columns = np.arange(len(recorded))
    for row in range(rows):
        present = ~np.isnan(values[row])
        index = columns[present]
        for track in tracks:
            moved = track.step(index, ts[row, present], values[row, present])
            paging = np.where(np.isnan(moved.since), moved.scores.onset, 0.0)
            score[row, present] = np.maximum(score[row, present], paging)
            onset[row, present] = np.maximum(onset[row, present], moved.scores.onset)
            level[row, present] = np.maximum(level[row, present], moved.scores.score)
            alert[row, present] |= moved.started
        if advance is not None:
            advance(1)
    return [
        Replayed(
            one,
            score[: len(one.ts), column],
            alert[: len(one.ts), column],
            level[: len(one.ts), column],
            onset[: len(one.ts), column],
        )
        for column, one in enumerate(recorded)
    ]


def write_replayed(replayed: Replayed, out: Path) -> Path:
    """``out/<relative path>`` with columns timestamp,value,score,alert."""
    target = out / replayed.recorded.relative
    target.parent.mkdir(parents=True, exist_ok=True)
    with target.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["timestamp", "value", "score", "alert"])
        one = replayed.recorded
        for stamp, value, score, alert in zip(
            one.stamps, one.values, replayed.score, replayed.alert, strict=True
        ):
            writer.writerow([stamp, f"{value:.10g}", f"{score:.6f}", int(alert)])
    return target
