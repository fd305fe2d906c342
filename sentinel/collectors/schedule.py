"""Polling on a fixed schedule: the next poll is due one interval after the last was *due*,
not after it finished, so slow targets do not drift; the first poll is spread by jitter.
A loop that fell behind (suspended, overloaded) skips ahead instead of bursting."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable

from sentinel.collectors.base import Collector, PollResult, poll

# Called with each result and how late the poll started against its schedule (seconds).
OnResult = Callable[[PollResult, float], None]


async def poll_forever(
    collector: Collector,
    on_result: OnResult,
    clock: Callable[[], float] = time.time,
    rng: random.Random | None = None,
) -> None:
    config = collector.config
    due = time.monotonic() + (rng or random.Random()).uniform(0, config.jitter)
    while True:
        await asyncio.sleep(max(0.0, due - time.monotonic()))
        lag = max(0.0, time.monotonic() - due)
        on_result(await poll(collector, clock()), lag)
        due += config.interval
        if due < time.monotonic():
            due = time.monotonic() + config.interval
