"""The collector protocol: poll one target, return what was read.

A collector owns one configured target. ``read()`` returns a ``Reading``: the samples it got
and, if the target is not healthy, why. ``poll()`` wraps every read the same way for all
kinds: a timeout, exceptions turned into reasons, and the two series every target yields,
``up`` (1/0) and ``scrape_duration_seconds``, so that a dead target is itself a signal.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import ClassVar, Protocol

from pydantic import Field

from sentinel.model import SampleBatch, Series
from sentinel.registry import Registry
from sentinel.schema import Duration, StrictModel


class TargetConfig(StrictModel):
    """What every target has; each kind extends it with its own keys."""

    name: str
    kind: str
    interval: Duration = 15.0
    timeout: Duration = 10.0
    jitter: Duration = 0.0
    labels: dict[str, str] = Field(default_factory=dict)


@dataclass(slots=True)
class Reading:
    """Samples as (metric, extra labels, value, time or None for "now"), plus, if the check
    failed, why (``failure``) and a short class of reason for counting (``failure_kind``)."""

    samples: list[tuple[str, dict[str, str], float, float | None]] = field(default_factory=list)
    failure: str | None = None
    failure_kind: str = "check"

    def add(
        self,
        metric: str,
        value: float,
        labels: dict[str, str] | None = None,
        ts: float | None = None,
    ) -> None:
        self.samples.append((metric, labels or {}, float(value), ts))

    def fail(self, kind: str, reason: str) -> Reading:
        self.failure_kind, self.failure = kind, reason
        return self


class Collector(Protocol):
    """One target of one kind. Plugins register under ``collectors`` by kind."""

    Config: ClassVar[type[TargetConfig]]
    config: TargetConfig

    async def read(self) -> Reading: ...

    async def close(self) -> None: ...


collectors: Registry[type[Collector]] = Registry("collector")


@dataclass(frozen=True, slots=True)
class PollResult:
    batch: SampleBatch
    failure: str | None
    failure_kind: str = ""


async def poll(collector: Collector, now: float) -> PollResult:
    """Read a target within its timeout; never raises, a failure becomes ``up 0``."""
    config = collector.config
    base_labels = {"target": config.name, **config.labels}
    started = time.perf_counter()
    try:
        reading = await asyncio.wait_for(collector.read(), timeout=config.timeout)
    except TimeoutError:
        reading = Reading().fail("timeout", f"timed out after {config.timeout:g}s")
    except Exception as exc:  # any plugin fault is a target failure, not a daemon crash
        reading = Reading().fail("error", f"{type(exc).__name__}: {exc}")
    elapsed = time.perf_counter() - started
    rows = [
        (Series.of(metric, {**extra, **base_labels}), now if ts is None else ts, value)
        for metric, extra, value, ts in reading.samples
    ]
    rows.append((Series.of("up", base_labels), now, 0.0 if reading.failure else 1.0))
    rows.append((Series.of("scrape_duration_seconds", base_labels), now, elapsed))
    kind = reading.failure_kind if reading.failure else ""
    return PollResult(SampleBatch.from_rows(rows), reading.failure, kind)
