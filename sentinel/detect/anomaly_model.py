"""Streaming anomaly scores for many series at once, in numpy columns.

Every series gets the same model, learned online from its own past (a score at time t uses
data up to t only):

* a slow exponentially weighted mean and variance is the baseline; how far the sample and
  the fast-smoothed recent value sit from it, in baseline deviations, is the level surprise;
  how far the step from the previous sample sits from the usual step is the step surprise —
  so spikes, level shifts and trend breaks all show, and the baseline follows a new level
  within about a hundred samples instead of alarming on it forever;
* a time-of-day profile (half-hour slots of the ``timezone``'s wall clock) replaces the
  flat baseline while it has explained most recent samples clearly better, so daily
  seasonality is expected,
  and a peak that fails to come (or comes at the wrong hour) is the anomaly: the profile
  is not dropped on the very samples that depart from it. Weekend days keep a profile of
  their own beside it, which takes over on Saturdays and Sundays where it has been seen on
  ``weekend_warmup`` weekend days, explains them better and differs from the every-day
  profile by more than ``weekend_sigmas`` of its deviation: a quiet weekend is weekly
  seasonality, not a Saturday-morning alert every week, while a series with no weekly
  pattern keeps the every-day profile, learned from seven times the samples;
* a floor relative to the series' own scale keeps flat-lines from turning rounding noise
  into huge surprises;
* raw surprise is then judged against the series' own history of surprise (Numenta's
  anomaly-likelihood idea): a noisy series must surprise more than a quiet one; so is a
  slower average of it against the narrower spread such an average has (weighted by
  ``slow_weight``, since successive surprises are not independent), so a moderate
  deviation that lasts counts as much as a brief large one; and so is the latest surprise
  alone (weighted by ``single_weight``: one sample is weaker evidence than a run), so a
  lone huge spike counts however quiet the series was — less so on a series whose surprise
  is heavy-tailed (its ``tail_quantile``, tracked online, further above its mean than a
  normal distribution's ``tail_reference`` spreads), where spikes are routine;
* a new extreme — a value beyond the whole range the series has spanned, at least
  ``record_sigmas`` from its baseline, once the range has held for ``record_span`` and
  ``record_warmup`` samples — is evidence of its own, sized by how far beyond that range it
  goes; it is combined with the surprise as independent evidence
  (``1 − (1 − surprise)(1 − record)``). Baselines that adapt explain a new high away within
  a few samples; the range does not, so an outage peak or a drop below anything seen before
  still counts. A range seen for less than a few days says little (a daily cycle's first
  peak, a weekday's quiet), and in steady noise new extremes grow rarer with time (about
  2/n at sample n) and the σ condition leaves almost none. A smoothed level (rate
  ``smooth_alpha``) that goes beyond every level it has had counts the same way, judged
  against the narrower spread of such a level, so a slow slide to a new low is seen too,
  where it also departs further from its baseline than the level has since warm-up (a
  daily cycle on a trend reaches a new high every day, no further from its baseline);
  and so does a surprise beyond every surprise since warm-up, sized by the share by which
  it passes the largest (weighted by ``surprise_record_gain``, with no σ condition: never
  having deviated this far is the evidence), so a spike is seen where the level has moved
  on and no value is a new extreme, or where the spread is wide — though not against the
  time-of-day profile, whose slots each learn from one sample a day and so are left further
  than ever before routinely;
* a lone spike (a sample ``spike_sigmas`` above the usual surprise) about a day after the
  last one, give or take ``recurrence_tolerance``, counts at ``recurrence_damping`` of its
  size: a nightly job's spike is routine, though it drifts too much across the day (a cron
  job's start, a backup's length) for the half-hour profile to learn it. A value beyond
  the whole range still counts in full, so the night the job runs away is seen;
* a decaying envelope keeps an anomaly that goes on from scoring again and again, so one
  anomaly is one onset — which is what a pager and the NAB scorer both want.

State is 23 float64 per series plus 48 half-hour slots (float32 mean and deviation, a
uint16 count) for every day and 48 more for weekends: about 1,140 bytes a series.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace
from functools import cached_property, lru_cache
from zoneinfo import ZoneInfo

import numpy as np

STATE = (
    "count",
    "mean",
    "var",
    "fast",
    "last",
    "step_var",
    "scale",
    "surprise_mean",
    "surprise_var",
    "surprise_recent",
    "envelope",
    "high",
    "low",
    "since",
    "surprise_slow",
    "smooth",
    "smooth_high",
    "smooth_low",
    "seasonal_fit",
    "surprise_tail",
    "spike_at",
    "surprise_peak",
    "level_departure",
)
# Rows added to ``STATE`` since snapshots were first saved: a snapshot from before lacks
# them, and they start at zero (nothing learned yet) when it loads.
ADDED_STATE = ("level_departure",)


def loadable_state(names: object) -> bool:
    """Whether state saved with these row names loads: ``STATE``, or ``STATE`` short of
    rows added since (``ADDED_STATE``)."""
    return (
        isinstance(names, list)
        and len(names) >= len(STATE) - len(ADDED_STATE)
        and names == list(STATE[: len(names)])
    )


BASELINES = ("level", "time of day", "step", "weekend time of day")
# Time-of-day profile columns per slot: every day's, then the weekend days' own (saved
# snapshots from before the weekend profile lack those: its slots start unseen).
PROFILE = {
    "day_mean": np.float32,
    "day_dev": np.float32,
    "day_seen": np.uint16,
    "end_mean": np.float32,
    "end_dev": np.float32,
    "end_seen": np.uint16,
}
FLAT_SIGMAS = 1000.0  # deviations past this are against a baseline that has barely varied
DAY = 86400.0
HOUR = 3600.0


@dataclass(frozen=True, slots=True)
class ModelParameters:
    """One parameter set for every series; nothing here is tuned per series.

    Rates are per sample: ``baseline_alpha`` 1/64 follows a new level within about a
    hundred samples; the time-of-day profile (``day_buckets`` half-hour slots) counts once a
    slot has been seen ``seasonal_warmup`` times and explains the series better than the
    flat baseline by ``seasonal_gain`` in at least ``seasonal_fit_share`` of recent samples
    (an average at rate ``seasonal_fit_alpha``, about the last 32). A new extreme counts
    once the series has been seen for ``record_warmup`` samples over at least
    ``record_span`` seconds and lies ``record_sigmas`` from its baseline; ``record_gain``
    sizes its evidence: a value 2% of the range beyond the old extreme is worth about 0.45,
    as is a smoothed level with ``level_record_gain``, and with ``surprise_record_gain`` a
    surprise 10% beyond the largest before about 0.26. ``weekend_warmup`` 6 is three
    weekends (0: no weekend profile, and no memory for one). Time of day and weekends are
    the wall clock's of ``timezone`` (an IANA name): where the series' users live.
    The surprise's ``tail_quantile`` moves by ``tail_rate`` spreads a step; a normal
    distribution's 0.99 quantile lies ``tail_reference`` 2.33 spreads above its mean.
    """

    baseline_alpha: float = 1 / 64
    fast_alpha: float = 1 / 4
    shift_weight: float = 1.0
    step_weight: float = 0.5
    surprise_alpha: float = 1 / 1024
    recent_alpha: float = 1 / 2
    slow_alpha: float = 1 / 10
    slow_weight: float = 0.6
    single_weight: float = 0.7
    tail_quantile: float = 0.99
    tail_reference: float = 2.33
    tail_rate: float = 0.05
    envelope_decay: float = 0.999
    warmup: int = 32
    scale_floor: float = 1e-3
    score_scale: float = 7.0
    day_buckets: int = 48
    seasonal_alpha: float = 1 / 16
    seasonal_warmup: int = 3
    seasonal_gain: float = 0.8
    seasonal_fit_alpha: float = 1 / 32
    seasonal_fit_share: float = 0.7
    record_warmup: int = 150
    record_span: float = 2.5 * DAY
    record_gain: float = 30.0
    level_record_gain: float = 30.0
    smooth_alpha: float = 1 / 10
    record_sigmas: float = 4.0
    spike_sigmas: float = 4.0
    recurrence_tolerance: float = 7200.0
    recurrence_damping: float = 0.5
    surprise_record_gain: float = 3.0
    hourly_weight: float = 0.9
    weekend_warmup: int = 6
    weekend_sigmas: float = 2.0
    timezone: str = "UTC"


@dataclass(frozen=True, slots=True)
class Scores:
    """What one update says about each series it saw, aligned with its ``index``.

    ``score`` is the anomaly score in [0, 1]; ``onset`` is the score where it rises above
    the decaying envelope of recent scores (else 0), i.e. where a new anomaly starts.
    ``expected``, ``sigmas`` and ``baseline`` (an index into ``BASELINES``) say what
    deviated, by how much and against which baseline.
    """

    score: np.ndarray
    onset: np.ndarray
    expected: np.ndarray
    sigmas: np.ndarray
    baseline: np.ndarray
    beyond: np.ndarray  # share of the range spanned so far by which a new extreme passes it
    extreme: np.ndarray  # the extreme it passed (NaN where there is none)
    passed: np.ndarray  # what passed it: the value, or its smoothed level (NaN: none)
    peaked: np.ndarray  # the share by which the deviation passes the largest before (0: not)
    hourly: np.ndarray | None = None  # the hourly mean judged, where the hourly view decided

    def reason(self, i: int, value: float) -> str:
        """A one-line explanation of entry ``i``.

        >>> one = lambda v: np.array([v])
        >>> none, no = one(np.nan), one(0)
        >>> Scores(one(0.9), one(0.9), one(40.0), one(6.24), one(1), one(0.0), none, none, no
        ...        ).reason(0, 93.2)
        'value 93.2 is 6.2σ above its time of day baseline 40'
        >>> Scores(one(0.7), one(0.7), one(40.0), one(2.1), one(0), one(0.12), one(80.0),
        ...        one(84.8), no).reason(0, 84.8)
        'value 84.8 is a new high, 12% of its range beyond 80; 2.1σ above its level baseline 40'
        >>> level = Scores(one(0.6), one(0.6), one(40.0), one(1.5), one(0), one(0.05), one(31.0),
        ...                one(30.5), no)
        >>> for part in level.reason(0, 30.1).split("; "):
        ...     print(part)
        value 30.1: its level 30.5 is a new low, 5% of its range beyond 31
        1.5σ below its level baseline 40
        >>> Scores(one(0.8), one(0.8), one(0.0), one(114947.4), one(1), one(0.0), none, none, no
        ...        ).reason(0, 20.0)
        'value 20 is above its time of day baseline 0, which has barely varied'
        >>> Scores(one(0.6), one(0.6), one(47.0), one(3.4), one(0), one(0.0), none, none, one(1)
        ...        ).reason(0, 62.1)
        'value 62.1 is 3.4σ above its level baseline 47, its largest deviation yet'
        >>> Scores(one(0.6), one(0.6), one(47.0), one(3.4), one(0), one(0.0), none, none, no,
        ...        one(61.0)).reason(0, 58.0)
        'hourly mean 61 is 3.4σ above its level baseline 47'
        """
        what = f"value {value:g}"
        if self.hourly is not None and not np.isnan(self.hourly[i]):
            value = float(self.hourly[i])
            what = f"hourly mean {value:.4g}"
        side = "above" if value >= self.expected[i] else "below"
        baseline = f"{BASELINES[int(self.baseline[i])]} baseline {self.expected[i]:.4g}"
        if self.sigmas[i] >= FLAT_SIGMAS:  # a count of σ says nothing a person can use here
            deviation = f"{side} its {baseline}, which has barely varied"
        else:
            deviation = f"{self.sigmas[i]:.1f}σ {side} its {baseline}"
        if self.peaked[i] > 0:
            deviation += ", its largest deviation yet"
        if self.beyond[i] <= 0:
            return f"{what} is {deviation}"
        passed = float(self.passed[i])
        record = "high" if passed > self.extreme[i] else "low"
        what += "" if passed == value else f": its level {passed:.4g}"
        return (
            f"{what} is a new {record}, {100 * self.beyond[i]:.0f}% of its range "
            f"beyond {self.extreme[i]:.4g}; {deviation}"
        )


class AnomalyModel:
    """Vectorised online anomaly scorer for a growing set of series (indexed 0..n-1)."""

    _day_mean: np.ndarray  # the ``PROFILE`` columns: series × slots
    _day_dev: np.ndarray
    _day_seen: np.ndarray
    _end_mean: np.ndarray
    _end_dev: np.ndarray
    _end_seen: np.ndarray

    def __init__(self, parameters: ModelParameters | None = None, capacity: int = 16) -> None:
        self.parameters = parameters or ModelParameters()
        self.size = 0
        self._state = np.zeros((len(STATE), max(capacity, 1)))
        for name, dtype in PROFILE.items():
            shape = (max(capacity, 1), self._slots(name))
            setattr(self, f"_{name}", np.zeros(shape, dtype=dtype))

    def _local(self, ts: np.ndarray) -> np.ndarray:
        """Unix times moved to the ``timezone``'s wall clock, daylight saving included: one
        offset for a batch within a day that has one (a scrape), else one per hour."""
        if self.parameters.timezone == "UTC" or not len(ts):
            return ts
        first, last = float(ts.min()), float(ts.max())
        offset = _utc_offset(self._zone, first // HOUR)
        if last - first < DAY and _utc_offset(self._zone, last // HOUR) == offset:
            return ts + offset
        hours, at = np.unique(np.floor(ts / HOUR), return_inverse=True)
        return ts + np.array([_utc_offset(self._zone, h) for h in hours])[at]

    @cached_property
    def _zone(self) -> ZoneInfo:
        return ZoneInfo(self.parameters.timezone)

    def _weekend(self, local: np.ndarray) -> np.ndarray | None:
        """Which samples fall on a Saturday or Sunday (wall-clock ``local`` times), or None
        where none does or there is no weekend profile: most batches pay nothing for it."""
        if self.parameters.weekend_warmup <= 0:
            return None
        days = np.floor(local / DAY).astype(np.int64)
        weekend = (days + 3) % 7 >= 5  # 1970-01-01: a Thursday
        return weekend if weekend.any() else None

    def _learn(
        self,
        profile: str,
        slot: np.ndarray,
        x: np.ndarray,
        mean: np.ndarray,
        dev: np.ndarray,
        seen: np.ndarray,
    ) -> None:
        """Move a profile's slots toward the samples (a slot's first sample sets it)."""
        c = np.where(seen == 0, 1.0, self.parameters.seasonal_alpha)
        np.put(getattr(self, f"_{profile}_mean"), slot, mean + c * (x - mean))
        np.put(getattr(self, f"_{profile}_dev"), slot, dev + c * (np.abs(x - mean) - dev))
        np.put(getattr(self, f"_{profile}_seen"), slot, np.minimum(seen + 1, 60000))

    def _slots(self, column: str) -> int:
        """Slots a profile column has: none for a weekend profile that is switched off."""
        if column.startswith("end") and self.parameters.weekend_warmup <= 0:
            return 0
        return self.parameters.day_buckets

    def add(self, count: int = 1) -> range:
        """Make room for ``count`` more series; returns their indices."""
        needed = self.size + count
        if needed > self._state.shape[1]:
            grown = np.zeros((len(STATE), max(needed, 2 * self._state.shape[1])))
            grown[:, : self.size] = self._state[:, : self.size]
            self._state = grown
            extra = grown.shape[1] - self._day_mean.shape[0]
            for name in PROFILE:
                setattr(self, f"_{name}", np.pad(getattr(self, f"_{name}"), ((0, extra), (0, 0))))
        added = range(self.size, needed)
        self.size = needed
        return added

    def arrays(self) -> dict[str, np.ndarray]:
        """The state of series ``0..size-1``, to save (``from_arrays`` takes it back)."""
        n = self.size
        return {"state": self._state[:, :n]} | {
            name: getattr(self, f"_{name}")[:n] for name in PROFILE
        }

    @classmethod
    def from_arrays(
        cls, parameters: ModelParameters, arrays: dict[str, np.ndarray], keep: list[int]
    ) -> AnomalyModel:
        """A model holding the saved series ``keep`` (renumbered 0..); ``ValueError`` if the
        arrays do not have this model's layout."""
        state = arrays["state"]
        n = state.shape[1] if state.ndim == 2 else -1
        model = cls(parameters, capacity=len(keep))
        saved = {name: arrays[name] for name in PROFILE if name in arrays}
        rows = state.shape[0]
        if (
            not len(STATE) - len(ADDED_STATE) <= rows <= len(STATE)
            or any(name not in saved for name in PROFILE if name.startswith("day"))
            or any(a.shape != (n, model._slots(name)) for name, a in saved.items())
            or (keep and not 0 <= min(keep) <= max(keep) < n)
        ):
            raise ValueError("saved anomaly state has another layout")
        model.add(len(keep))
        model._state[:rows, : len(keep)] = state[:, keep]
        for name, column in saved.items():
            getattr(model, f"_{name}")[: len(keep)] = column[keep]
        return model

    @property
    def nbytes(self) -> int:
        """Memory held for the series' state (capacity included)."""
        return self._state.nbytes + sum(getattr(self, f"_{name}").nbytes for name in PROFILE)

    def update(self, index: np.ndarray, ts: np.ndarray, values: np.ndarray) -> Scores:
        """Learn one sample for each series in ``index`` (distinct) and score it in [0, 1]."""
        p = self.parameters
        ts = np.asarray(ts, dtype=np.float64)
        local = self._local(ts)
        bucket = ((local % DAY) * (p.day_buckets / 86400.0)).astype(np.int64)
        slot = np.asarray(index) * p.day_buckets + bucket  # flat positions: one take/put each
        day_mean = np.take(self._day_mean, slot).astype(np.float64)
        day_dev = np.take(self._day_dev, slot).astype(np.float64)
        day_seen = np.take(self._day_seen, slot)
        weekend = self._weekend(local)
        if weekend is not None:
            end_mean = np.take(self._end_mean, slot).astype(np.float64)
            end_dev = np.take(self._end_dev, slot).astype(np.float64)
            end_seen = np.take(self._end_seen, slot)
            # Where weekends have a shape of their own, well seen: it is what to expect.
            use_end = (
                weekend
                & (end_seen >= p.weekend_warmup)
                & (end_dev < day_dev)
                & (np.abs(end_mean - day_mean) > p.weekend_sigmas * day_dev)
            )
            profile_mean = np.where(use_end, end_mean, day_mean)
            profile_dev = np.where(use_end, end_dev, day_dev)
        else:
            profile_mean, profile_dev, use_end = day_mean, day_dev, False
        rows = _as_slice(index)  # a run of columns (the usual case) is read and written as a view
        s = self._state[:, rows]
        count, mean, var, fast, last, step_var, scale = s[:7]
        surprise_mean, surprise_var, surprise_recent, envelope, high, low, since, slow = s[7:15]
        smooth, smooth_high, smooth_low, seasonal_fit, surprise_tail, spike_at = s[15:21]
        surprise_peak, level_departure = s[21], s[22]
        x = np.asarray(values, dtype=np.float64)
        smooth = smooth + p.smooth_alpha * (x - smooth)
        first = count == 0
        if first.any():  # a series' first sample starts its baselines (rare after start-up)
            mean = np.where(first, x, mean)
            fast = np.where(first, x, fast)
            last = np.where(first, x, last)
            scale = np.where(first, np.abs(x), scale)
            high = np.where(first, x, high)
            low = np.where(first, x, low)
            smooth = np.where(first, x, smooth)
            smooth_high = np.where(first, x, smooth_high)
            smooth_low = np.where(first, x, smooth_low)
            since = np.where(first, ts, since)
            spike_at = np.where(first, ts - 2 * DAY, spike_at)

        floor = p.scale_floor * (scale + 1e-9)
        deviation = np.sqrt(var) + floor
        level = np.abs(x - mean) / deviation
        smoothed = fast + p.fast_alpha * (x - fast)
        shift = np.abs(smoothed - mean) / deviation
        jump = np.abs(x - last) / (np.sqrt(step_var) + floor)
        # Whether the profile explains this slot better, averaged over recent samples: a
        # peak that fails to come makes the slot's deviation look large, and deciding by
        # that one sample would drop the profile exactly when it matters.
        seen_enough = day_seen >= p.seasonal_warmup
        fits = seen_enough & (profile_dev < p.seasonal_gain * deviation)
        seasonal_fit = seasonal_fit + p.seasonal_fit_alpha * (fits - seasonal_fit)
        use_day = seen_enough & (seasonal_fit >= p.seasonal_fit_share)
        level = np.where(use_day, np.abs(x - profile_mean) / (profile_dev + floor), level)
        shift = p.shift_weight * shift
        jump = p.step_weight * jump
        raw = np.log1p(np.maximum(np.maximum(level, shift), jump))

        spread = np.sqrt(surprise_var) + 0.05
        recent = surprise_recent + p.recent_alpha * (raw - surprise_recent)
        standardised = (recent - surprise_mean) / spread
        # Sustained surprise: a slower average, judged against its own (narrower) spread.
        slow = np.where(count < 2 * p.warmup, surprise_mean, slow + p.slow_alpha * (raw - slow))
        narrower = np.sqrt(p.slow_alpha / (2.0 - p.slow_alpha))
        sustained = p.slow_weight * (slow - surprise_mean) / (spread * narrower)
        # One sample, unsmoothed; scaled down where surprise is heavy-tailed (its upper
        # quantile further out than a normal distribution's), as on a bursty series whose
        # spikes are routine.
        tail = (surprise_tail - surprise_mean) / spread
        routine = np.where(
            count >= 4 * p.warmup, p.tail_reference / np.maximum(tail, p.tail_reference), 1.0
        )
        lone = (raw - surprise_mean) / spread
        single = p.single_weight * routine * lone
        standardised = np.maximum(np.maximum(standardised, sustained), single)
        recurring = (np.abs(ts - spike_at - DAY) <= p.recurrence_tolerance) & (
            lone >= p.spike_sigmas
        )
        standardised = np.where(recurring, p.recurrence_damping * standardised, standardised)
        score = 1.0 - np.exp(-np.maximum(standardised, 0.0) / p.score_scale)
        warm = count >= 2 * p.warmup  # baseline, then surprise statistics, have settled
        score = np.where(warm, score, 0.0)

        span = np.maximum(high - low, floor)
        beyond = np.maximum(x - high, low - x) / span
        seen = (count >= p.record_warmup) & (ts - since >= p.record_span)
        counts = seen & (beyond > 0) & (level >= p.record_sigmas) & (p.record_gain > 0)
        beyond = np.where(counts, beyond, 0.0)
        # The same for the smoothed level: a level (not one sample) beyond all it has been,
        # at least ``record_sigmas`` of such a level's own spread from the baseline, and
        # further from it than it has departed since warm-up: a daily cycle on a trend takes
        # its level to a new high every day, but no further from its baseline than before.
        departure = np.abs(smooth - mean)
        smooth_sigmas = departure / (
            (np.sqrt(var) + floor) * np.sqrt(p.smooth_alpha / (2.0 - p.smooth_alpha))
        )
        level_beyond = np.maximum(smooth - smooth_high, smooth_low - smooth) / np.maximum(
            smooth_high - smooth_low, floor
        )
        departs = (smooth_sigmas >= p.record_sigmas) & (departure >= level_departure)
        level_beyond = np.where(seen & (level_beyond > 0) & departs, level_beyond, 0.0)
        # A recurring spike lifts the smoothed level too; that is no slide to a new level.
        level_beyond = np.where(recurring, 0.0, level_beyond)
        # The same for surprise itself: a deviation larger than any the series has shown since
        # it warmed up counts by the share by which it passes that peak, short of
        # ``record_sigmas`` too, so a spike is seen where the level has moved on (no value
        # is a new extreme) or where the spread is wide but has never been left this far.
        # Not against the time-of-day profile: a slot that learns from one sample a day is
        # left further than ever routinely.
        past_peak = np.where(
            seen & ~use_day,
            np.maximum(raw - surprise_peak, 0.0) / np.maximum(surprise_peak, 1e-9),
            0.0,
        )
        record = 1.0 - np.exp(
            -p.record_gain * beyond
            - p.level_record_gain * level_beyond
            - p.surprise_record_gain * past_peak
        )
        score = 1.0 - (1.0 - score) * (1.0 - record)
        onset = np.where(score > envelope, score, 0.0)

        # Learn after scoring, so a sample never explains itself away.
        # Rates start at 1/n (a plain running mean) so early estimates are not biased to 0.
        a = np.maximum(p.baseline_alpha, 1.0 / (count + 1))
        delta = x - mean
        mean = mean + a * delta
        var = (1 - a) * (var + a * delta * delta)
        step = x - last
        step_var = (1 - a) * (step_var + a * step * step)
        scale = scale + a * (np.abs(x) - scale)
        b = np.maximum(p.surprise_alpha, 1.0 / np.maximum(count - p.warmup + 1, 1))
        surprise_delta = raw - surprise_mean
        surprise_mean = surprise_mean + b * surprise_delta
        surprise_var = (1 - b) * (surprise_var + b * surprise_delta * surprise_delta)
        # Stochastic-approximation quantile: up by (1−q) steps on a sample above, down by q.
        surprise_tail = np.where(
            count < p.warmup,
            surprise_mean,
            surprise_tail + p.tail_rate * spread * (p.tail_quantile - (raw < surprise_tail)),
        )
        envelope = np.maximum(score, envelope * p.envelope_decay)
        self._learn("day", slot, x, day_mean, day_dev, day_seen)
        if weekend is not None:
            on = weekend
            self._learn("end", slot[on], x[on], end_mean[on], end_dev[on], end_seen[on])

        by_step = jump > np.maximum(level, shift)
        scores = Scores(
            score=score,
            onset=onset,
            expected=np.where(by_step, last, np.where(use_day, profile_mean, mean)),
            sigmas=np.where(by_step, jump / p.step_weight, level),
            baseline=np.where(by_step, 2, np.where(use_day, np.where(use_end, 3, 1), 0)),
            beyond=np.maximum(beyond, level_beyond),
            extreme=np.where(
                np.maximum(beyond, level_beyond) <= 0,
                np.nan,
                np.where(
                    beyond >= level_beyond,
                    np.where(x > high, high, low),
                    np.where(smooth > smooth_high, smooth_high, smooth_low),
                ),
            ),
            passed=np.where(
                np.maximum(beyond, level_beyond) <= 0,
                np.nan,
                np.where(beyond >= level_beyond, x, smooth),
            ),
            peaked=past_peak * (p.surprise_record_gain > 0),  # quoted only where it counts
        )

        learned = (
            count + 1,
            mean,
            var,
            smoothed,
            x,
            step_var,
            scale,
            surprise_mean,
            surprise_var,
            recent,
            envelope,
            np.maximum(high, x),
            np.minimum(low, x),
            since,
            slow,
            smooth,
            np.maximum(smooth_high, smooth),
            np.minimum(smooth_low, smooth),
            seasonal_fit,
            surprise_tail,
            np.where(warm & (lone >= p.spike_sigmas), ts, spike_at),
            np.where(warm, np.maximum(raw, surprise_peak), 0.0),
            np.where(warm, np.maximum(departure, level_departure), 0.0),
        )
        # Row by row, with no stacked copy of them all; after scoring, since some of these are
        # views of the rows being written.
        for row, column in enumerate(learned):
            self._state[row, rows] = column
        return scores


class MultiScaleModel:
    """The model on each sample and, beside it, on each series' hourly means.

    A deviation that lasts in a noisy series (a burst of traffic, a slow climb) barely
    stands out from one sample's noise, but does from the noise of hourly means. Each
    completed wall-clock hour's mean is scored when the series' first sample of a later
    hour arrives (causal: the hour is known complete only then), at ``hourly_weight`` of
    its score; each sample's result is whichever view scores it higher. The hourly view
    takes no evidence from an hourly mean beyond the range of hourly means, nor from its
    largest deviation: both are set over far fewer values, and in bursty series a busier
    hour than any before is routine (on NAB, leaving them out removes false alarms on
    Twitter volumes and CPU series, and loses no window). An hourly level that lasts still
    counts through the smoothed level's own range. Nor does it keep a weekend profile: the
    samples' own covers weekly seasonality, and one more would take the state past 2 KB.
    """

    def __init__(self, parameters: ModelParameters | None = None, capacity: int = 16) -> None:
        self.parameters = parameters or ModelParameters()
        self.fine = AnomalyModel(self.parameters, capacity)
        self.coarse = AnomalyModel(self._hourly(self.parameters), capacity)
        self._hours = np.zeros((3, max(capacity, 1)))  # current hour, its sum, its samples

    @staticmethod
    def _hourly(parameters: ModelParameters) -> ModelParameters:
        return replace(parameters, record_gain=0.0, surprise_record_gain=0.0, weekend_warmup=0)

    @property
    def size(self) -> int:
        return self.fine.size

    def add(self, count: int = 1) -> range:
        """Make room for ``count`` more series; returns their indices."""
        self.coarse.add(count)
        added = self.fine.add(count)
        if self.size > self._hours.shape[1]:
            grown = np.zeros((3, max(self.size, 2 * self._hours.shape[1])))
            grown[:, : self._hours.shape[1]] = self._hours
            self._hours = grown
        return added

    def arrays(self) -> dict[str, np.ndarray]:
        """The state of series ``0..size-1``, to save (``from_arrays`` takes it back)."""
        return {
            **{f"fine.{k}": v for k, v in self.fine.arrays().items()},
            **{f"hourly.{k}": v for k, v in self.coarse.arrays().items()},
            "hours": self._hours[:, : self.size],
        }

    @classmethod
    def from_arrays(
        cls, parameters: ModelParameters, arrays: dict[str, np.ndarray], keep: list[int]
    ) -> MultiScaleModel:
        """A model holding the saved series ``keep`` (renumbered 0..); ``ValueError`` if the
        arrays do not have this model's layout."""
        views = {
            view: {k.split(".", 1)[1]: v for k, v in arrays.items() if k.startswith(view + ".")}
            for view in ("fine", "hourly")
        }
        hours = arrays.get("hours")
        model = cls(parameters, capacity=len(keep))
        model.fine = AnomalyModel.from_arrays(parameters, views["fine"], keep)
        model.coarse = AnomalyModel.from_arrays(cls._hourly(parameters), views["hourly"], keep)
        if hours is None or hours.shape != (3, arrays["fine.state"].shape[1]):
            raise ValueError("saved anomaly state has another layout")
        model._hours[:, : len(keep)] = hours[:, keep]
        return model

    @property
    def nbytes(self) -> int:
        """Memory held for the series' state (capacity included)."""
        return self.fine.nbytes + self.coarse.nbytes + self._hours.nbytes

    def update(self, index: np.ndarray, ts: np.ndarray, values: np.ndarray) -> Scores:
        """Learn one sample for each series in ``index`` (distinct) and score it in [0, 1]."""
        index = np.asarray(index)
        ts = np.asarray(ts, dtype=np.float64)
        x = np.asarray(values, dtype=np.float64)
        scores = self.fine.update(index, ts, x)
        hour = np.floor(ts / HOUR)
        held, total, samples = self._hours[:, index]
        closed = (samples > 0) & (hour != held)
        if closed.any():
            scores = self._with_hours(
                scores, closed, index[closed], held[closed], total[closed] / samples[closed]
            )
        fresh = closed | (samples == 0)
        self._hours[0, index] = hour
        self._hours[1, index] = np.where(fresh, x, total + x)
        self._hours[2, index] = np.where(fresh, 1.0, samples + 1.0)
        return scores

    def _with_hours(
        self,
        scores: Scores,
        closed: np.ndarray,
        index: np.ndarray,
        hour: np.ndarray,
        means: np.ndarray,
    ) -> Scores:
        """``scores`` where the completed hours of the ``closed`` entries score higher."""
        weight = self.parameters.hourly_weight
        hourly = self.coarse.update(index, (hour + 1.0) * HOUR - 1.0, means)
        where = np.flatnonzero(closed)
        wins = weight * hourly.score > scores.score[where]
        fields = {}
        for name in Scores.__dataclass_fields__:
            if name == "hourly":
                continue
            column = np.array(getattr(scores, name), dtype=np.float64)
            column[where[wins]] = getattr(hourly, name)[wins]
            fields[name] = column
        fields["score"][where] = np.maximum(scores.score[where], weight * hourly.score)
        fields["onset"][where] = np.maximum(scores.onset[where], weight * hourly.onset)
        shown = np.full(len(closed), np.nan)
        shown[where[wins]] = means[wins]
        return Scores(**fields, hourly=shown)


@lru_cache(maxsize=65536)
def _utc_offset(zone: ZoneInfo, hour: float) -> float:
    """Seconds the zone's wall clock is ahead of UTC in the given hour since the epoch."""
    offset = dt.datetime.fromtimestamp(hour * HOUR, zone).utcoffset()
    return offset.total_seconds() if offset else 0.0


def _as_slice(index: np.ndarray) -> slice | np.ndarray:
    """``index`` as a slice when it is a run of consecutive columns, else unchanged.

    >>> _as_slice(np.arange(3, 6)), _as_slice(np.array([0, 2]))
    (slice(3, 6, None), array([0, 2]))
    """
    index = np.asarray(index)
    if len(index) and index[-1] - index[0] == len(index) - 1 and np.all(np.diff(index) == 1):
        return slice(int(index[0]), int(index[-1]) + 1)
    return index
