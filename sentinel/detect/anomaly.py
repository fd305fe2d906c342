"""Anomaly rules: the streaming model on every selected series, turned into alerts.

An alert fires where a series' anomaly score starts above ``threshold`` (an onset, see
``anomaly_model``), carries the model's reason in its annotations, and resolves once the
score has stayed below ``recover`` for ``resolve_after``. The default configuration selects
every series (``metric: "*"``), so nothing needs naming to be watched. What the models have
learned is kept across restarts (``snapshot``/``load``: one ``.npz`` of every rule's
columns, with the series they belong to).
"""

from __future__ import annotations

import io
import itertools
import logging
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import orjson
from pydantic import Field

from sentinel.detect.anomaly_model import (
    STATE,
    ModelParameters,
    MultiScaleModel,
    Scores,
    loadable_state,
)
from sentinel.detect.base import DetectorConfig, detectors, render
from sentinel.model import Alert, AlertStatus, SampleBatch, Series, Severity, fingerprint
from sentinel.schema import Duration, TimeZone

ANY_METRIC = "*"
NOT_SELECTED = -1
UNSEEN = -2
SNAPSHOT_VERSION = 2
SCRAPES_KEPT = 4096  # selections remembered per rule (one per target, about)
log = logging.getLogger("sentinel.detect")


class AnomalyRuleConfig(DetectorConfig):
    kind: Literal["anomaly"] = "anomaly"
    metric: str = ANY_METRIC
    match: dict[str, str] = Field(default_factory=dict)
    ignore: list[str] = Field(default_factory=list)
    threshold: float = Field(0.5, gt=0.0, le=1.0)
    recover: float = Field(0.25, ge=0.0, le=1.0)
    resolve_after: Duration = 300.0
    severity: Severity = Severity.INFO
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    timezone: TimeZone = "UTC"  # whose time of day and weekends the models learn

    def selects(self, series: Series) -> bool:
        labels = series.label_map
        if series.name in self.ignore:
            return False
        return self.metric in (ANY_METRIC, series.name) and all(
            labels.get(k) == v for k, v in self.match.items()
        )


@dataclass(frozen=True, slots=True)
class Selection:
    """Which of a batch's ``series`` a rule follows: their positions and columns."""

    series: tuple[Series, ...]
    picked: np.ndarray
    columns: np.ndarray


@dataclass
class Transitions:
    """Where, within one update, alerts start (``started``) and end (``ended``, firing
    ``since``)."""

    scores: Scores
    started: np.ndarray
    ended: np.ndarray
    since: np.ndarray


@dataclass
class AnomalyTrack:
    """One rule's model and its firing state, as columns over the series it follows.

    Used by the daemon (series appear as they are first seen) and by ``sentinel backtest``
    (one column per file), so both raise exactly the same alerts.
    """

    rule: AnomalyRuleConfig
    model: MultiScaleModel = field(init=False)
    firing_since: np.ndarray = field(default_factory=lambda: np.empty(0))
    last_high: np.ndarray = field(default_factory=lambda: np.empty(0))

    def __post_init__(self) -> None:
        self.model = MultiScaleModel(ModelParameters(timezone=self.rule.timezone))

    def add(self, count: int) -> range:
        added = self.model.add(count)
        grow = np.full(count, np.nan)
        self.firing_since = np.concatenate([self.firing_since, grow])
        self.last_high = np.concatenate([self.last_high, grow])
        return added

    def step(self, index: np.ndarray, ts: np.ndarray, values: np.ndarray) -> Transitions:
        """Score one sample per series in ``index`` (distinct) and move their alert state."""
        scores = self.model.update(index, ts, values)
        since = self.firing_since[index]
        started, ended, self.firing_since[index], self.last_high[index] = move_alerts(
            self.rule,
            self.rule.threshold,
            ts,
            scores.onset,
            scores.score,
            since,
            self.last_high[index],
        )
        return Transitions(scores, started, ended, since)


def annotate(
    rule: AnomalyRuleConfig,
    labels: dict[str, str],
    value: float,
    score: float,
    expected: float,
    sigmas: float,
    reason: str,
) -> dict[str, str]:
    """An anomaly alert's annotations: the rule's templates rendered with the labels, value,
    score and reason, and the reason, value, expected value and σ count themselves (ranking
    sizes a deviation by those: in the metric's unit and against the series' own spread)."""
    values = {**labels, "value": f"{value:g}", "score": f"{score:.2f}", "reason": reason}
    annotations = {k: render(v, values) for k, v in rule.annotations.items()}
    annotations.setdefault("reason", reason)
    annotations.setdefault("value", f"{value:.6g}")
    annotations.setdefault("expected", f"{expected:.6g}")
    annotations.setdefault("sigmas", f"{sigmas:.4g}")
    return annotations


def move_alerts(
    rule: AnomalyRuleConfig,
    threshold: float | np.ndarray,
    ts: np.ndarray,
    onset: np.ndarray,
    score: np.ndarray,
    firing_since: np.ndarray,
    last_high: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(started, ended, firing_since, last_high) after one update: an alert starts at an onset
    of at least ``threshold`` while none fires (``firing_since`` NaN) and ends once the score
    has stayed below ``rule.recover`` for ``rule.resolve_after``. ``threshold`` is the rule's
    own, or an array of them broadcast against the rest (to compare thresholds in one pass).
    """
    firing = ~np.isnan(firing_since)
    started = ~firing & (onset >= threshold)
    high = score >= rule.recover
    last_high = np.where(high | started, ts, last_high)
    ended = firing & ~high & (ts - last_high >= rule.resolve_after)
    firing_since = np.where(started, ts, np.where(ended, np.nan, firing_since))
    return started, ended, firing_since, last_high


def first_occurrences(index: np.ndarray) -> list[np.ndarray]:
    """Split positions into rounds in which each value of ``index`` occurs once, in order.

    >>> [r.tolist() for r in first_occurrences(np.array([3, 1, 3, 3]))]
    [[0, 1], [2], [3]]
    """
    rounds: list[np.ndarray] = []
    positions = np.arange(len(index))
    while len(positions):
        _, first = np.unique(index[positions], return_index=True)
        taken = np.sort(first)
        rounds.append(positions[taken])
        positions = np.delete(positions, taken)
    return rounds


@detectors.register("anomaly")
class AnomalyRules:
    """Every anomaly rule, each with its own model over the series it selects."""

    Config = AnomalyRuleConfig

    def __init__(self, rules: Sequence[AnomalyRuleConfig]) -> None:
        self.tracks = [AnomalyTrack(rule) for rule in rules]
        self._columns: list[dict[Series, int]] = [{} for _ in rules]
        self._series: list[list[Series]] = [[] for _ in rules]
        # A target's scrapes list the same series in the same order: the last selection seen
        # per (length, first series), reused once the batch compares equal (Prometheus's
        # scrape cache does the same), so a scrape's series are compared, not hashed.
        self._scrapes: list[dict[tuple[int, Series], Selection]] = [{} for _ in rules]
        self._restored: dict[str, float] = {}

    @classmethod
    def from_configs(cls, configs: Sequence[DetectorConfig]) -> AnomalyRules:
        return cls([c for c in configs if isinstance(c, AnomalyRuleConfig)])

    def restore(self, active: Iterable[Alert]) -> None:
        self._restored = {a.fingerprint: a.starts_at for a in active}
        for number, series in enumerate(self._series):  # those already known from a snapshot
            self._resume(number, series)

    def snapshot(self) -> bytes:
        arrays: dict[str, np.ndarray] = {}
        saved = []
        for number, track in enumerate(self.tracks):
            if not self._series[number]:
                continue
            key = f"rule{number}"
            series = [[s.name, [list(pair) for pair in s.labels]] for s in self._series[number]]
            saved.append({"name": track.rule.name, "key": key, "series": series})
            arrays.update({f"{key}.{k}": v for k, v in track.model.arrays().items()})
        if not saved:
            return b""
        meta = {"version": SNAPSHOT_VERSION, "state": list(STATE), "rules": saved}
        arrays["meta"] = np.frombuffer(orjson.dumps(meta), dtype=np.uint8)
        buffer = io.BytesIO()
        np.savez(buffer, **arrays)
        return buffer.getvalue()

    def load(self, snapshot: bytes) -> None:
        if not snapshot:
            return
        try:
            loaded = self._read(snapshot)
        except (ValueError, KeyError, TypeError, OSError, zipfile.BadZipFile) as exc:
            log.warning("learned anomaly state not usable, learning afresh: %s", exc)
            return
        for number, series, model in loaded:
            track = self.tracks[number]
            track.model = model
            track.firing_since = np.full(len(series), np.nan)  # firing state: the store's
            track.last_high = np.full(len(series), np.nan)
            self._series[number] = series
            self._columns[number] = {one: column for column, one in enumerate(series)}
            self._scrapes[number].clear()
        log.info("learned anomaly state resumed for %d series", sum(len(s) for _, s, _ in loaded))

    def _read(self, snapshot: bytes) -> list[tuple[int, list[Series], MultiScaleModel]]:
        """Each configured rule's saved series (those it still selects) and their model."""
        loaded = []
        with np.load(io.BytesIO(snapshot), allow_pickle=False) as saved:
            meta = orjson.loads(saved["meta"].tobytes())
            if meta.get("version") != SNAPSHOT_VERSION or not loadable_state(meta.get("state")):
                raise ValueError("saved by another version of the model")
            by_name = {entry["name"]: entry for entry in meta["rules"]}
            for number, track in enumerate(self.tracks):
                entry = by_name.get(track.rule.name)
                if entry is None:
                    continue
                series = [
                    Series(name, tuple((str(k), str(v)) for k, v in labels))
                    for name, labels in entry["series"]
                ]
                keep = [i for i, one in enumerate(series) if track.rule.selects(one)]
                prefix = f"{entry['key']}."
                arrays = {k[len(prefix) :]: saved[k] for k in saved.files if k.startswith(prefix)}
                model = MultiScaleModel.from_arrays(track.model.parameters, arrays, keep)
                loaded.append((number, [series[i] for i in keep], model))
        return loaded

    def observe(self, batch: SampleBatch, now: float) -> list[Alert]:
        changes: list[Alert] = []
        for number, track in enumerate(self.tracks):
            picked_at, columns_at = self._select(number, batch.series)
            if not len(picked_at):
                continue
            for round_ in first_occurrences(columns_at):
                at = picked_at[round_]
                index = columns_at[round_]
                moved = track.step(index, batch.ts[at], batch.values[at])
                for i in np.flatnonzero(moved.started | moved.ended):
                    column = int(index[i])
                    changes.append(self._alert(number, column, moved, int(i), at[i], batch))
        return changes

    def _select(self, number: int, series: Sequence[Series]) -> tuple[np.ndarray, np.ndarray]:
        """(positions in the batch, their columns) of the series this rule follows."""
        if not series:
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
        scrapes, shape = self._scrapes[number], (len(series), series[0])
        seen = scrapes.get(shape)
        if seen is not None and seen.series == series:
            return seen.picked, seen.columns
        columns = self._columns[number]
        # One C-level pass, since nearly every series is known already.
        found = map(columns.get, series, itertools.repeat(UNSEEN))
        column_of = np.fromiter(found, dtype=np.int64, count=len(series))
        if (column_of == UNSEEN).any():
            self._first_sight(number, series, column_of)
        picked = np.flatnonzero(column_of != NOT_SELECTED)
        if len(scrapes) >= SCRAPES_KEPT:
            scrapes.clear()
        scrapes[shape] = Selection(tuple(series), picked, column_of[picked])
        return picked, column_of[picked]

    def _first_sight(self, number: int, series: Sequence[Series], found: np.ndarray) -> None:
        """Columns (into ``found``) for series seen for the first time: a new one, or
        NOT_SELECTED for good."""
        rule, columns = self.tracks[number].rule, self._columns[number]
        new: list[Series] = []
        for position in np.flatnonzero(found == UNSEEN):
            one = series[position]
            column = columns.get(one)  # the same series twice in one batch
            if column is None:
                selected = rule.selects(one)
                column = len(self._series[number]) + len(new) if selected else NOT_SELECTED
                columns[one] = column
                if selected:
                    new.append(one)
            found[position] = column
        if new:
            self.tracks[number].add(len(new))
            self._series[number].extend(new)
            self._resume(number, new)

    def _resume(self, number: int, new: list[Series]) -> None:
        """Series whose alert was still firing before a restart keep firing, not refire."""
        track = self.tracks[number]
        for one in new:
            started = self._restored.pop(fingerprint(self._labels(number, one)), None)
            if started is not None:
                column = self._columns[number][one]
                track.firing_since[column] = track.last_high[column] = started

    def _labels(self, number: int, series: Series) -> dict[str, str]:
        rule = self.tracks[number].rule
        return {
            "metric": series.name,
            **series.label_map,
            "alertname": rule.name,
            "severity": rule.severity.value,
            **rule.labels,
        }

    def _alert(
        self, number: int, column: int, moved: Transitions, i: int, at: int, batch: SampleBatch
    ) -> Alert:
        rule = self.tracks[number].rule
        series = self._series[number][column]
        labels = self._labels(number, series)
        value, ts = float(batch.values[at]), float(batch.ts[at])
        score = float(moved.scores.score[i])
        annotations = annotate(
            rule,
            labels,
            value,
            score,
            float(moved.scores.expected[i]),
            float(moved.scores.sigmas[i]),
            moved.scores.reason(i, value),
        )
        started = bool(moved.started[i])
        return Alert(
            labels=labels,
            annotations=annotations,
            status=AlertStatus.FIRING if started else AlertStatus.RESOLVED,
            starts_at=ts if started else float(moved.since[i]),
            ends_at=None if started else ts,
            source=f"anomaly:{rule.name}",
            score=score,
        )
