"""Threshold rules: comparison, ``for:`` duration, recovery hysteresis and ``keep_firing_for``.

A rule fires once the comparison has held for ``for``. It resolves only when the value is
back on the good side of ``recover`` (the hysteresis threshold; ``threshold`` if unset) and
has stayed good for ``keep_firing_for``, so a value hovering at the threshold does not page
over and over. A series whose state keeps changing (Icinga's flap detection: weighted state
changes over the last ``flap_window`` evaluations above ``flap_high`` percent) fires once,
marked flapping, and is held firing until the changes fall below ``flap_low``.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from pydantic import Field

from sentinel.detect.base import DetectorConfig, detectors, render
from sentinel.model import Alert, AlertStatus, SampleBatch, Series, Severity, fingerprint
from sentinel.schema import Duration

_OPS: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
    "==": operator.eq,
    "!=": operator.ne,
}


class ThresholdRuleConfig(DetectorConfig):
    kind: Literal["threshold"] = "threshold"
    metric: str
    match: dict[str, str] = Field(default_factory=dict)
    op: Literal[">", ">=", "<", "<=", "==", "!="]
    threshold: float
    recover: float | None = None
    for_: Duration = Field(0.0, alias="for")
    keep_firing_for: Duration = 0.0
    flap_window: int = Field(20, ge=0, le=64)
    flap_high: float = Field(30.0, gt=0.0, le=100.0)
    flap_low: float = Field(25.0, ge=0.0, le=100.0)
    severity: Severity = Severity.WARNING
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)


@dataclass(slots=True)
class _State:
    labels: dict[str, str]
    pending_since: float | None = None
    firing_since: float | None = None
    last_bad: float | None = None
    history: int = 0  # the last evaluations, newest in bit 0 (1 = bad)
    evaluations: int = 0
    flapping: bool = False


def flap_percent(history: int, evaluations: int, window: int) -> float:
    """Icinga's weighted state change: changes over the last ``window`` evaluations, the
    newest weighing 1.2 and the oldest 0.8, as a percentage of the possible changes.

    >>> flap_percent(0b1010101010, 10, 10), flap_percent(0b1111100000, 10, 10)
    (100.0, 11.11111111111111)
    """
    seen = min(evaluations, window)
    if seen < 2:
        return 0.0
    total = 0.0
    for age in range(seen - 1):  # age 0: the change into the newest evaluation
        if ((history >> age) ^ (history >> (age + 1))) & 1:
            total += 1.2 - 0.4 * age / max(window - 2, 1)
    return 100.0 * total / (window - 1)


@detectors.register("threshold")
class ThresholdRules:
    """Every threshold rule, evaluated against each sample of the series it selects.

    >>> from sentinel.model import SampleBatch, Series
    >>> rule = ThresholdRuleConfig.model_validate(
    ...     {"name": "Down", "metric": "up", "op": "==", "threshold": 0, "for": "10s"})
    >>> rules = ThresholdRules.from_configs([rule])
    >>> down = lambda t: SampleBatch.from_rows([(Series.of("up", {"target": "web"}), t, 0)])
    >>> rules.observe(down(0), now=0), [a.status.value for a in rules.observe(down(10), now=10)]
    ([], ['firing'])
    """

    Config = ThresholdRuleConfig

    def __init__(self, rules: Sequence[ThresholdRuleConfig]) -> None:
        self.rules = tuple(rules)
        self._selected: dict[Series, tuple[int, ...]] = {}
        self._states: dict[tuple[int, Series], _State] = {}
        self._restored: dict[str, float] = {}

    @classmethod
    def from_configs(cls, configs: Sequence[DetectorConfig]) -> ThresholdRules:
        return cls([c for c in configs if isinstance(c, ThresholdRuleConfig)])

    def restore(self, active: Iterable[Alert]) -> None:
        self._restored = {a.fingerprint: a.starts_at for a in active}

    def snapshot(self) -> bytes:
        return b""  # ``for`` timers restart from the alerts still firing; nothing is learned

    def load(self, snapshot: bytes) -> None:
        pass

    def observe(self, batch: SampleBatch, now: float) -> list[Alert]:
        changes: list[Alert] = []
        for series, ts, value in zip(batch.series, batch.ts, batch.values, strict=True):
            for index in self._rules_for(series):
                change = self._step(index, series, float(ts), float(value), now)
                if change is not None:
                    changes.append(change)
        return changes

    def _rules_for(self, series: Series) -> tuple[int, ...]:
        selected = self._selected.get(series)
        if selected is None:
            labels = series.label_map
            selected = tuple(
                i
                for i, rule in enumerate(self.rules)
                if rule.metric == series.name
                and all(labels.get(k) == v for k, v in rule.match.items())
            )
            self._selected[series] = selected
        return selected

    def _state(self, index: int, series: Series) -> _State:
        state = self._states.get((index, series))
        if state is None:
            rule = self.rules[index]
            labels = {
                **series.label_map,
                "alertname": rule.name,
                "severity": rule.severity.value,
                **rule.labels,
            }
            state = _State(labels=labels)
            started = self._restored.pop(fingerprint(labels), None)
            if started is not None:
                state.firing_since = state.last_bad = started
            self._states[(index, series)] = state
        return state

    def _step(
        self, index: int, series: Series, ts: float, value: float, now: float
    ) -> Alert | None:
        rule = self.rules[index]
        state = self._state(index, series)
        compare = _OPS[rule.op]
        if rule.flap_window and self._flaps(rule, state, value, compare):
            if state.firing_since is None:  # one page for the flapping, not one per flap
                state.firing_since = state.last_bad = ts
                return self._alert(rule, state, value, AlertStatus.FIRING, ts, None)
            state.last_bad = ts
            return None
        if state.firing_since is not None:
            still_bad = compare(value, rule.threshold if rule.recover is None else rule.recover)
            if still_bad:
                state.last_bad = ts
                return None
            if ts - (state.last_bad or ts) < rule.keep_firing_for:
                return None
            started, state.firing_since, state.pending_since = state.firing_since, None, None
            return self._alert(rule, state, value, AlertStatus.RESOLVED, started, now)
        if not compare(value, rule.threshold):
            state.pending_since = None
            return None
        if state.pending_since is None:
            state.pending_since = ts
        if ts - state.pending_since < rule.for_:
            return None
        state.firing_since = state.last_bad = ts
        return self._alert(rule, state, value, AlertStatus.FIRING, ts, None)

    @staticmethod
    def _flaps(
        rule: ThresholdRuleConfig, state: _State, value: float, compare: Callable[..., bool]
    ) -> bool:
        """Record this evaluation; True while the series is flapping (Icinga's hysteresis:
        starts above ``flap_high`` percent, stops below ``flap_low``)."""
        bad = compare(value, rule.threshold)
        state.history = ((state.history << 1) | int(bad)) & ((1 << rule.flap_window) - 1)
        state.evaluations += 1
        percent = flap_percent(state.history, state.evaluations, rule.flap_window)
        if state.flapping:
            state.flapping = percent >= rule.flap_low
        else:
            state.flapping = percent > rule.flap_high
        return state.flapping

    @staticmethod
    def _alert(
        rule: ThresholdRuleConfig,
        state: _State,
        value: float,
        status: AlertStatus,
        starts_at: float,
        ends_at: float | None,
    ) -> Alert:
        values = {**state.labels, "value": f"{value:g}", "threshold": f"{rule.threshold:g}"}
        annotations = {k: render(v, values) for k, v in rule.annotations.items()}
        if state.flapping:
            annotations["flapping"] = "state changes too often; held firing until it settles"
        return Alert(
            labels=dict(state.labels),
            annotations=annotations,
            status=status,
            starts_at=starts_at,
            ends_at=ends_at,
            source=f"threshold:{rule.name}",
            score=1.0,
        )
