"""The streaming anomaly model, the anomaly rule plugin and the NAB scorer."""

from __future__ import annotations

import math
import re
from dataclasses import replace

import numpy as np
import pytest

from sentinel.detect.anomaly import AnomalyRuleConfig, AnomalyRules
from sentinel.detect.anomaly_model import (
    STATE,
    AnomalyModel,
    ModelParameters,
    MultiScaleModel,
    loadable_state,
)
from sentinel.detect.nab import PROFILES, LabelledFile, probation, sweep
from sentinel.model import Alert, AlertStatus, SampleBatch, Series

STEP = 300.0  # five-minute samples
THRESHOLD = AnomalyRuleConfig(name="Anomaly").threshold


def scores(
    values: np.ndarray, start: float = 0.0, parameters: ModelParameters | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(score, onset) for one series fed sample by sample."""
    model = AnomalyModel(parameters)
    model.add(1)
    index = np.array([0])
    score, onset = np.zeros(len(values)), np.zeros(len(values))
    for i, value in enumerate(values):
        out = model.update(index, np.array([start + i * STEP]), np.array([value]))
        score[i], onset[i] = out.score[0], out.onset[0]
    return score, onset


def onsets(model: AnomalyModel | MultiScaleModel, values: np.ndarray) -> list[tuple[int, str]]:
    """(sample, reason) where an anomaly at the rule's threshold starts, one series fed
    sample by sample into a fresh ``model``."""
    model.add(1)
    found = []
    for i, value in enumerate(values):
        out = model.update(np.array([0]), np.array([i * STEP]), np.array([value]))
        if out.onset[0] >= THRESHOLD:
            found.append((i, out.reason(0, value)))
    return found


def noisy(n: int, seed: int = 7) -> np.ndarray:
    return 50.0 + np.random.default_rng(seed).normal(0.0, 2.0, n)


def test_scores_are_causal():
    values = noisy(600)
    values[400] = 90.0
    whole, _ = scores(values)
    prefix, _ = scores(values[:450])
    np.testing.assert_array_equal(whole[:450], prefix)


def test_a_spike_is_one_onset_and_quiet_noise_is_not():
    values = noisy(1500)
    values[1000] = 80.0
    score, onset = scores(values)
    assert np.flatnonzero(onset >= THRESHOLD).tolist() == [1000]
    assert score.min() >= 0.0 and score.max() <= 1.0


def test_a_level_shift_fires_once_and_becomes_normal():
    values = noisy(1500)
    values[1000:] += 30.0
    score, onset = scores(values)
    fired = np.flatnonzero(onset >= THRESHOLD)
    assert fired.tolist() and 1000 <= fired[0] <= 1002 and len(fired) <= 2
    assert score[1300:].max() < THRESHOLD  # the new level is the baseline now


def test_daily_seasonality_is_expected_and_a_missing_peak_is_not():
    per_day = int(86400 / STEP)
    t = np.arange(per_day * 10)
    rng = np.random.default_rng(3)
    values = 100.0 + 60.0 * np.sin(2 * math.pi * t / per_day) + rng.normal(0.0, 2.0, len(t))
    peak = slice(8 * per_day + per_day // 8, 8 * per_day + 3 * per_day // 8)
    values[peak] = 100.0  # the day's peak never comes
    _, onset = scores(values)
    fired = np.flatnonzero(onset >= THRESHOLD)
    assert not any(per_day * 5 <= i < peak.start for i in fired)  # learnt days are quiet
    assert any(peak.start <= i < peak.stop for i in fired)


def test_a_daily_plateau_that_fails_to_come_is_seen_while_the_profile_holds():
    """The samples that depart from the profile must not be what switches it off: judged
    one sample at a time, the slot's own deviation grows within a few samples of the
    missing plateau and the flat baseline takes over, which calls the low value normal."""
    per_day = int(86400 / STEP)
    t = np.arange(per_day * 10)
    rng = np.random.default_rng(5)
    hour = (t % per_day) / (per_day / 24)
    values = np.where((hour >= 8) & (hour < 16), 80.0, 20.0) + rng.normal(0.0, 1.5, len(t))
    gone = slice(8 * per_day + per_day // 3, 8 * per_day + 2 * per_day // 3)
    values[gone] = 20.0 + rng.normal(0.0, 1.5, gone.stop - gone.start)
    _, onset = scores(values)
    fired = np.flatnonzero(onset >= THRESHOLD)
    assert not any(per_day * 5 <= i < gone.start for i in fired)  # learnt days are quiet
    assert any(gone.start <= i < gone.start + 12 for i in fired)  # within the hour
    _, judged_per_sample = scores(values, parameters=ModelParameters(seasonal_fit_alpha=1.0))
    assert judged_per_sample[gone].max() < THRESHOLD


def test_one_sample_counts_for_less_only_where_surprise_is_heavy_tailed():
    per_day = int(86400 / STEP)
    undamped = ModelParameters(tail_reference=1e9)
    gaussian = noisy(per_day * 6)
    np.testing.assert_array_equal(scores(gaussian)[0], scores(gaussian, parameters=undamped)[0])
    rng = np.random.default_rng(2)
    bursty = rng.poisson(3, per_day * 6).astype(float)  # counts, with routine bursts
    bursts = rng.random(len(bursty)) < 0.02
    bursty[bursts] += rng.uniform(5.0, 20.0, bursts.sum())
    damped, plain = scores(bursty)[0], scores(bursty, parameters=undamped)[0]
    assert np.all(damped <= plain)
    learnt = bursts & (np.arange(len(bursty)) >= 3 * per_day)
    assert damped[learnt].mean() < plain[learnt].mean()


def test_a_nightly_spike_that_drifts_counts_for_less_and_a_stray_one_in_full():
    per_day = int(86400 / STEP)
    days = 12
    values = noisy(per_day * days)
    drift = np.random.default_rng(3).integers(-12, 13, days)  # 03:00 give or take an hour
    nightly = np.arange(days) * per_day + 36 + drift
    values[nightly] = 80.0
    stray = (days - 1) * per_day + 180  # 15:00 on the last day
    values[stray] = 80.0
    score, _ = scores(values)
    plain, _ = scores(values, parameters=ModelParameters(recurrence_tolerance=-1.0))
    # A day after the one before (the first night falls in the warm-up, so it is no spike).
    recurring = nightly[2:][np.diff(nightly)[1:] * STEP <= 86400 + 7200]
    assert len(recurring) >= days - 2
    assert np.all(score[recurring] <= 0.7 * plain[recurring])
    others = np.setdiff1d(np.arange(len(values)), recurring)
    np.testing.assert_array_equal(score[others], plain[others])  # the stray one included
    assert plain[stray] > 0.4


def test_a_spike_above_every_earlier_spike_is_a_new_extreme():
    values = noisy(1500)
    values[::40] += 20.0  # spiky: the surprise of a spike is judged against other spikes
    values[1201] += 32.0
    _, onset = scores(values)
    _, without_records = scores(values, parameters=ModelParameters(record_gain=0.0))
    assert onset[1201] >= THRESHOLD
    assert without_records[1201] < THRESHOLD  # the adaptive baselines alone explain it away
    model = AnomalyModel()
    model.add(1)
    for i, value in enumerate(values[:1202]):
        out = model.update(np.array([0]), np.array([i * STEP]), np.array([value]))
    assert "is a new high, 29% of its range beyond" in out.reason(0, values[1201])


def test_a_deviation_beyond_every_one_before_counts_short_of_the_record_sigmas():
    values = 50.0 + np.random.default_rng(3).uniform(-3.5, 3.5, 2400)  # σ 2, bounded at 1.75σ
    values[1801] = 57.0  # a new high, but too few σ (3.1) to count as a new extreme
    values[2201] = 56.5  # as far out again, but no longer the furthest
    _, onset = scores(values)
    _, without = scores(values, parameters=ModelParameters(surprise_record_gain=0.0))
    assert np.flatnonzero(onset >= THRESHOLD).tolist() == [1801]
    assert without.max() < THRESHOLD
    model = AnomalyModel()
    model.add(1)
    for i, value in enumerate(values[:1802]):
        out = model.update(np.array([0]), np.array([i * STEP]), np.array([value]))
    reason = out.reason(0, 57.0)
    assert reason.endswith("σ above its level baseline 50.09, its largest deviation yet")


def test_a_slow_slide_to_a_level_below_all_before_is_a_new_extreme():
    values = noisy(1600)
    values[1300:1500] -= np.linspace(0.0, 8.0, 200)  # no one sample leaves the noise's range
    values[1500:] -= 8.0
    fired = onsets(AnomalyModel(), values)
    assert len(fired) == 1
    at, reason = fired[0]
    assert 1300 < at < 1400 and ": its level" in reason and "is a new low" in reason


def test_a_daily_cycle_on_a_trend_reaches_new_highs_every_day_and_seldom_alerts():
    per_day = int(86400 / STEP)
    t = np.arange(per_day * 21)
    rng = np.random.default_rng(3)
    # Growing traffic: each day's peak is a new high of the level, no further from its
    # baseline than the days before (judged on range alone, 8 of them alerted here).
    values = 50.0 + 0.02 * t + 10.0 * np.sin(2 * math.pi * t / per_day) + rng.normal(0, 2, len(t))
    fired = onsets(MultiScaleModel(), values)
    assert len(fired) <= 2, fired


def test_a_daily_cycle_sets_no_new_extremes_before_its_range_has_held_for_days():
    per_day = int(86400 / STEP)
    t = np.arange(per_day)
    values = 100.0 + 60.0 * np.sin(2 * math.pi * t / per_day - math.pi / 2)  # rises all day
    model = AnomalyModel()
    model.add(1)
    for i, value in enumerate(values):
        out = model.update(np.array([0]), np.array([i * STEP]), np.array([value]))
        assert out.beyond[0] == 0.0


def test_a_flat_line_is_quiet_until_it_moves():
    values = np.full(800, 12.0)
    values[600:] = 13.0
    _, onset = scores(values)
    assert np.flatnonzero(onset >= THRESHOLD).tolist() == [600]


def test_a_lift_too_small_for_any_sample_shows_in_the_hourly_means():
    values = 50.0 + np.random.default_rng(0).normal(0.0, 4.0, 288 * 8)
    lift = 288 * 7  # the last day: six hours 1σ (of the samples' noise) higher
    values[lift : lift + 72] += 4.0
    samples, both = AnomalyModel(), MultiScaleModel()
    samples.add(1)
    both.add(1)
    fired, reasons = [], []
    for i, value in enumerate(values):
        at, x = np.array([i * STEP]), np.array([value])
        assert samples.update(np.array([0]), at, x).onset[0] < THRESHOLD
        out = both.update(np.array([0]), at, x)
        if out.onset[0] >= THRESHOLD:
            fired.append(i)
            reasons.append(out.reason(0, value))
    # Scored once each hour is complete: at the first sample of the next one.
    assert fired and all(lift < i <= lift + 72 and i % 12 == 0 for i in fired)
    assert reasons[0].startswith("hourly mean 56.04: its level 51.77 is a new high")


def test_a_busier_hour_than_any_before_is_routine_in_a_bursty_series():
    rng = np.random.default_rng(1)
    rate = np.repeat(5.0 * rng.lognormal(0.0, 0.6, 24 * 12), 12)  # each hour its own burst
    values = rng.poisson(rate).astype(float)

    def alerts(model: MultiScaleModel) -> list[str]:
        model.add(1)
        reasons = []
        for i, value in enumerate(values):
            out = model.update(np.array([0]), np.array([i * STEP]), np.array([value]))
            if out.onset[0] >= THRESHOLD:
                reasons.append(out.reason(0, value))
        return reasons

    counting = MultiScaleModel()
    counting.coarse = AnomalyModel(replace(counting.coarse.parameters, record_gain=30.0))
    with_hour_records, fired = alerts(counting), alerts(MultiScaleModel())
    assert len(fired) < len(with_hour_records)
    hour_records = [r for r in with_hour_records if re.match(r"hourly mean \S+ is a new", r)]
    assert hour_records and not any(re.match(r"hourly mean \S+ is a new", r) for r in fired)


def weekly(
    weeks: int, busy_saturday: int | None = None, utc_offset: float = 0.0
) -> tuple[np.ndarray, np.ndarray]:
    """A daily cycle whose weekends run at half the weekdays' level (1970-01-01, the first
    sample, was a Thursday), on a wall clock ``utc_offset`` seconds ahead of UTC;
    optionally one Saturday as busy as a weekday."""
    ts = np.arange(288 * 7 * weeks) * STEP
    local = ts + utc_offset
    daily = 100.0 + 50.0 * np.sin(2 * np.pi * ((local % 86400) / 86400 - 0.25))
    days = local // 86400
    level = np.where(np.isin(days % 7, [2, 3]), 0.5, 1.0)
    if busy_saturday is not None:
        level[days == 7 * busy_saturday + 2] = 1.0
    return ts, daily * level + np.random.default_rng(0).normal(0.0, 5.0, len(ts))


def alerting_days(
    ts: np.ndarray, values: np.ndarray, timezone: str = "UTC"
) -> dict[int, list[str]]:
    model = MultiScaleModel(ModelParameters(timezone=timezone))
    model.add(1)
    days: dict[int, list[str]] = {}
    for at, value in zip(ts, values, strict=True):
        out = model.update(np.array([0]), np.array([at]), np.array([value]))
        if out.onset[0] >= THRESHOLD:
            days.setdefault(int(at // 86400), []).append(out.reason(0, value))
    return days


def test_weekends_quieter_than_weekdays_are_learned_as_weekly_seasonality():
    ts, values = weekly(8)
    assert alerting_days(ts, values) == {}  # the every-day profile alone alerted each Saturday


def test_a_saturday_as_busy_as_a_weekday_is_an_anomaly_against_the_weekend_profile():
    ts, values = weekly(8, busy_saturday=7)
    days = alerting_days(ts, values)
    assert list(days) == [7 * 7 + 2]
    assert all("above its weekend time of day baseline" in r for r in days[7 * 7 + 2])


def test_weekends_are_those_of_the_rules_time_zone():
    ts, values = weekly(8, utc_offset=9 * 3600)  # Tokyo: no daylight saving
    in_utc = alerting_days(ts, values)
    assert len(in_utc) >= 5 and {day % 7 for day in in_utc} == {1}  # Saturday morning there
    assert alerting_days(ts, values, timezone="Asia/Tokyo") == {}


def test_wall_clock_time_follows_daylight_saving():
    model = AnomalyModel(ModelParameters(timezone="America/New_York"))
    january, july = 1704067200.0, 1719792000.0  # 2024-01-01 and 2024-07-01, 00:00 UTC
    both = model._local(np.array([january, july]))
    np.testing.assert_array_equal(both - [january, july], [-5 * 3600, -4 * 3600])
    scrape = model._local(np.full(3, july))
    np.testing.assert_array_equal(scrape - july, -4 * 3600)


def test_a_snapshot_from_before_the_weekend_profile_loads_with_weekends_unseen():
    ts, values = weekly(2)
    model = AnomalyModel()
    model.add(1)
    for at, value in zip(ts, values, strict=True):
        model.update(np.array([0]), np.array([at]), np.array([value]))
    saved = {k: v for k, v in model.arrays().items() if not k.startswith("end")}
    loaded = AnomalyModel.from_arrays(model.parameters, saved, [0])
    for name, column in saved.items():
        np.testing.assert_array_equal(loaded.arrays()[name], column)
    assert not loaded.arrays()["end_seen"].any()


def test_a_snapshot_from_before_the_level_departure_loads_with_none_seen():
    model = MultiScaleModel()
    model.add(2)
    for i, value in enumerate(noisy(400)):
        model.update(np.array([0, 1]), np.full(2, i * STEP), np.array([value, value + 1]))
    arrays = model.arrays()
    older = {k: v[:-1] if k.endswith(".state") else v for k, v in arrays.items()}
    loaded = MultiScaleModel.from_arrays(model.parameters, older, [1])
    state = loaded.arrays()["fine.state"]
    np.testing.assert_array_equal(state[:-1], arrays["fine.state"][:-1, [1]])
    assert not state[-1].any()
    assert loadable_state(list(STATE)) and loadable_state(list(STATE[:-1]))
    assert not loadable_state(list(STATE[:-2])) and not loadable_state(None)


def test_state_stays_under_two_kilobytes_a_series():
    model = MultiScaleModel(capacity=1000)
    model.add(1000)
    assert model.nbytes / model.size < 2048


def batch(series: Series, ts: float, value: float) -> SampleBatch:
    return SampleBatch.from_rows([(series, ts, value)])


def test_rule_fires_with_a_reason_resolves_and_resumes_after_restart():
    rule = AnomalyRuleConfig.model_validate(
        {
            "name": "Anomaly",
            "kind": "anomaly",
            "ignore": ["up"],
            "resolve_after": "10m",
            "annotations": {"summary": "{metric} on {host}: {reason}"},
        }
    )
    cpu = Series.of("cpu_percent", {"host": "db-1"})
    up = Series.of("up", {"host": "db-1"})
    values = noisy(700)
    values[600] = 95.0
    rules = AnomalyRules.from_configs([rule])
    changes: list[Alert] = []
    for i, value in enumerate(values):
        changes += rules.observe(batch(cpu, i * STEP, value), now=i * STEP)
        changes += rules.observe(batch(up, i * STEP, 1.0 if i < 650 else 0.0), now=i * STEP)
    assert [a.status for a in changes] == [AlertStatus.FIRING, AlertStatus.RESOLVED]
    fired, resolved = changes
    assert fired.labels == {
        "metric": "cpu_percent",
        "host": "db-1",
        "alertname": "Anomaly",
        "severity": "info",
    }
    assert fired.starts_at == 600 * STEP and resolved.starts_at == fired.starts_at
    assert (
        "value 95 is" in fired.annotations["reason"]
        and "above its level baseline" in (fired.annotations["reason"])
    )
    assert fired.annotations["summary"].startswith("cpu_percent on db-1: value 95 is")
    assert resolved.ends_at is not None and resolved.ends_at - 600 * STEP >= 600

    restarted = AnomalyRules.from_configs([rule])
    restarted.restore([fired])
    again = [
        a
        for i in range(601, 700)
        for a in restarted.observe(batch(cpu, i * STEP, values[i]), now=i * STEP)
    ]
    # Still firing from before the restart: no second page, one resolution.
    assert [a.status for a in again] == [AlertStatus.RESOLVED]
    assert again[0].starts_at == fired.starts_at


def test_a_batch_may_carry_a_series_twice():
    rules = AnomalyRules.from_configs([AnomalyRuleConfig(name="Anomaly")])
    cpu = Series.of("cpu_percent")
    values = noisy(400)
    values[300] = 95.0
    rows = [(cpu, i * STEP, v) for i, v in enumerate(values)]
    changes = rules.observe(SampleBatch.from_rows(rows), now=0.0)
    assert [(a.status, a.starts_at) for a in changes] == [
        (AlertStatus.FIRING, 300 * STEP),
        (AlertStatus.RESOLVED, 300 * STEP),
    ]


def test_each_sample_reaches_its_own_series_however_scrapes_are_ordered():
    """A scrape shaped like the last (same length, same first series) in another order, or
    with one series swapped, must not reuse the last scrape's columns by position."""
    rules = AnomalyRules.from_configs([AnomalyRuleConfig(name="Anomaly")])
    track = rules.tracks[0]

    def scrape(names: list[str], at: float) -> None:
        series = tuple(Series.of("temp", {"sensor": n}) for n in names)  # fresh objects
        level = {"a": 10.0, "b": 20.0, "c": 30.0, "d": 40.0}
        rules.observe(
            SampleBatch(series, np.full(len(names), at), np.array([level[n] for n in names])), at
        )

    for tick, names in enumerate(
        [["a", "b", "c"], ["a", "b", "c"], ["a", "c", "b"], ["a", "d", "b"]]
    ):
        scrape(names, tick * STEP)
    column = {one.label("sensor"): c for c, one in enumerate(rules._series[0])}
    last = track.model.arrays()["fine.state"][4]  # each series' last value
    assert {name: last[column[name]] for name in "abcd"} == {"a": 10, "b": 20, "c": 30, "d": 40}
    seen = track.model.arrays()["fine.state"][0]
    assert {name: seen[column[name]] for name in "abcd"} == {"a": 4, "b": 4, "c": 3, "d": 1}


def corpus_file(rows: int = 1000) -> LabelledFile:
    return LabelledFile("one.csv", rows, ((500, 599),))


@pytest.mark.parametrize("profile", PROFILES, ids=lambda p: p.name)
def test_nab_null_scores_zero_and_perfect_scores_hundred(profile):
    labelled = [corpus_file(), LabelledFile("two.csv", 800, ((300, 349), (600, 699)))]
    null = {f.name: np.zeros(f.rows) for f in labelled}
    perfect = {f.name: np.zeros(f.rows) for f in labelled}
    for f in labelled:
        for left, _ in f.windows:
            perfect[f.name][left] = 1.0
    assert sweep(labelled, null, np.array([0.5])).normalised(profile)[0] == 0.0
    assert sweep(labelled, perfect, np.array([0.5])).normalised(profile)[0] == 100.0


def test_nab_charges_false_positives_by_distance_and_ignores_probation():
    labelled = corpus_file()
    detections = np.zeros(1000)
    detections[700] = 1.0  # 101 rows past a 100-row window: S(101/99)
    detections[probation(1000) - 1] = 1.0  # not scored
    standard = PROFILES[0]
    result = sweep([labelled], {"one.csv": detections}, np.array([0.5]))
    charge = 2 / (1 + math.exp(5 * 101 / 99)) - 1
    raw = standard.fp * charge - standard.fn
    assert result.normalised(standard)[0] == pytest.approx(100 * (raw + 1) / 2)
    early = np.zeros(1000)
    early[300] = 1.0  # before any window: a full charge
    result = sweep([labelled], {"one.csv": early}, np.array([0.5]))
    assert result.normalised(standard)[0] == pytest.approx(100 * (-standard.fp - 1 + 1) / 2)


def test_nab_credits_the_earliest_detection_in_a_window():
    labelled = corpus_file()
    late = np.zeros(1000)
    late[560], late[590] = 0.9, 0.6
    result = sweep([labelled], {"one.csv": late}, np.array([0.5, 0.8]))

    def credit(row: int) -> float:
        position = -(599 - row + 1) / 100
        return (2 / (1 + math.exp(5 * position)) - 1) / (2 / (1 + math.exp(-5)) - 1)

    assert result.tp.tolist() == pytest.approx([credit(560), credit(560)])
    assert result.missed.tolist() == [0, 0]


def test_what_was_learned_survives_a_restart_and_a_changed_selection(caplog):
    cpu, mem = Series.of("cpu_percent", {"host": "a"}), Series.of("mem_percent", {"host": "a"})
    values = noisy(900)
    values[850] = 95.0

    def feed(rules: AnomalyRules, rows: range) -> list[tuple[str, float]]:
        out = []
        for i in rows:
            both = SampleBatch.from_rows([(cpu, i * STEP, values[i]), (mem, i * STEP, 40.0)])
            out += [(a.labels["metric"], a.starts_at) for a in rules.observe(both, i * STEP)]
        return out

    before = AnomalyRules.from_configs([AnomalyRuleConfig(name="Anomaly")])
    feed(before, range(800))
    snapshot = before.snapshot()
    restarted = AnomalyRules.from_configs([AnomalyRuleConfig(name="Anomaly")])
    restarted.load(snapshot)
    restarted.restore([])
    # The restarted rules go on exactly as if nothing had happened.
    resumed = feed(restarted, range(800, 900))
    assert resumed == feed(before, range(800, 900))
    assert ("cpu_percent", 850 * STEP) in resumed
    saved, kept = restarted.tracks[0].model.arrays(), before.tracks[0].model.arrays()
    assert saved.keys() == kept.keys()
    for name in saved:
        np.testing.assert_array_equal(saved[name], kept[name])

    narrower = AnomalyRules.from_configs(
        [AnomalyRuleConfig(name="Anomaly", ignore=["mem_percent"])]
    )
    narrower.load(snapshot)
    assert narrower._series[0] == [cpu]  # a series the rule no longer selects is dropped
    assert narrower.tracks[0].model.size == 1

    broken = AnomalyRules.from_configs([AnomalyRuleConfig(name="Anomaly")])
    broken.load(b"not a snapshot")
    assert broken.tracks[0].model.size == 0 and "learning afresh" in caplog.text
