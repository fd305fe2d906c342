"""Threshold rules over an injected clock: for:, hysteresis, keep_firing_for, restore."""

from __future__ import annotations

from sentinel.detect.threshold import ThresholdRuleConfig, ThresholdRules
from sentinel.model import AlertStatus, SampleBatch, Series


def rules(**overrides) -> ThresholdRules:
    spec = {"name": "HighCpu", "metric": "cpu", "op": ">", "threshold": 90, **overrides}
    return ThresholdRules.from_configs([ThresholdRuleConfig.model_validate(spec)])


def feed(detector: ThresholdRules, values: list[float], host: str = "a", step: float = 10):
    """Feed one value per step; returns [(time, status)] of every transition."""
    series = Series.of("cpu", {"host": host})
    out = []
    for i, value in enumerate(values):
        batch = SampleBatch.from_rows([(series, i * step, value)])
        out += [(i * step, a.status.value) for a in detector.observe(batch, now=i * step)]
    return out


def test_fires_only_after_holding_for_the_duration():
    assert feed(rules(**{"for": "30s"}), [95, 95, 95, 50]) == []
    assert feed(rules(**{"for": "30s"}), [95, 95, 95, 95]) == [(30, "firing")]


def test_a_dip_resets_the_pending_timer():
    assert feed(rules(**{"for": "20s"}), [95, 95, 50, 95, 95, 95]) == [(50, "firing")]


def test_hysteresis_holds_until_value_crosses_recover():
    transitions = feed(rules(recover=80), [95, 85, 89, 79])
    assert transitions == [(0, "firing"), (30, "resolved")]


def test_keep_firing_for_bridges_short_recoveries():
    detector = rules(keep_firing_for="25s")
    assert feed(detector, [95, 50, 50, 95, 50, 50, 50]) == [(0, "firing"), (60, "resolved")]


def test_each_series_is_judged_on_its_own_and_labels_carry_over():
    detector = rules(labels={"team": "ops"}, annotations={"summary": "{host} at {value}%"})
    rows = [(Series.of("cpu", {"host": h}), 0, v) for h, v in (("a", 99), ("b", 10))]
    [alert] = detector.observe(SampleBatch.from_rows(rows), now=0)
    assert dict(alert.labels) == {
        "host": "a",
        "alertname": "HighCpu",
        "severity": "warning",
        "team": "ops",
    }
    assert alert.annotations == {"summary": "a at 99%"}


def test_match_selects_series_by_label():
    detector = rules(match={"host": "b"})
    assert feed(detector, [99], host="a") == []
    assert feed(detector, [99], host="b") == [(0, "firing")]


def test_restored_alert_is_not_fired_again_and_resolves_later():
    first = rules()
    series = Series.of("cpu", {"host": "a"})
    [alert] = first.observe(SampleBatch.from_rows([(series, 0, 99)]), now=0)
    restarted = rules()
    restarted.restore([alert])
    assert restarted.observe(SampleBatch.from_rows([(series, 10, 99)]), now=10) == []
    [resolved] = restarted.observe(SampleBatch.from_rows([(series, 20, 1)]), now=20)
    assert resolved.status == AlertStatus.RESOLVED
    assert resolved.fingerprint == alert.fingerprint and resolved.starts_at == 0


def test_a_flapping_series_pages_once_and_is_held_until_it_settles():
    flapping = [95, 50] * 10  # a state change at every evaluation
    settled = [50] * 25
    transitions = feed(rules(), flapping + settled)
    statuses = [status for _, status in transitions]
    # Pages until the flapping shows in the history (a few flips), then one held alert…
    assert statuses == ["firing", "resolved"] * 3
    # …resolved only once the series has settled.
    assert transitions[-1][0] >= len(flapping) * 10
    # Without flap detection the same series pages ten times.
    assert len(feed(rules(flap_window=0), flapping + settled)) == 20


def test_flapping_is_marked_on_the_alert():
    detector = rules(**{"for": "30s"})
    series = Series.of("cpu", {"host": "a"})
    alerts = []
    for i, value in enumerate([95, 50] * 10):
        alerts += detector.observe(SampleBatch.from_rows([(series, i * 10, value)]), now=i * 10)
    assert len(alerts) == 1 and "flapping" in alerts[0].annotations
