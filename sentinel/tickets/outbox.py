"""Delivers what the desk queued, in order per target, with retries and dead letters.

A row is marked sent only after its sink returned, so a crash between the two repeats that
one delivery (at least once); the dedup key stops anything else from being sent twice.
Rows for one target go strictly in order: if one fails, later rows for that target wait.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping

from sentinel.metrics import Metrics
from sentinel.store import OutboxRow, Store
from sentinel.tickets.base import BUILT_IN_SINKS, DeliveryError, Sink
from sentinel.tickets.policy import masked

log = logging.getLogger("sentinel.outbox")


def shown_target(row: OutboxRow) -> str:
    """Where a row goes, fit to print: apprise URLs masked, external sinks by name."""
    return masked(row.target) if row.sink in BUILT_IN_SINKS else row.target


def backoff(attempt: int, base: float = 2.0, cap: float = 300.0) -> float:
    """Seconds to wait before retry number ``attempt`` (1-based): 2, 4, 8 … up to 5 min.

    >>> [backoff(n) for n in (1, 2, 3, 20)]
    [2.0, 4.0, 8.0, 300.0]
    """
    return min(cap, base**attempt)


class Outbox:
    def __init__(
        self,
        store: Store,
        sinks: Mapping[str, Sink],
        clock: Callable[[], float],
        metrics: Metrics | None = None,
        max_attempts: int = 12,
    ) -> None:
        self.store = store
        self.sinks = sinks
        self.clock = clock
        self.metrics = metrics
        self.max_attempts = max_attempts

    async def flush(self) -> int:
        """Deliver every due row once; returns how many were delivered."""
        rows = self.store.due_deliveries(self.clock())
        by_target: dict[str, list[OutboxRow]] = {}
        for row in rows:
            by_target.setdefault(row.target, []).append(row)
        results = await asyncio.gather(*(self._drain(group) for group in by_target.values()))
        if self.metrics:
            self.metrics.outbox_pending.set(self.store.pending_count())
        return sum(results)

    async def _drain(self, rows: list[OutboxRow]) -> int:
        delivered = 0
        for row in rows:
            result = await self._deliver(row)
            if result == "retry":
                break  # keep order: later rows for this target wait for this one
            delivered += result == "sent"
        return delivered

    async def _deliver(self, row: OutboxRow) -> str:
        """Try one row: "sent", "retry" (kept pending) or "dead" (given up)."""
        sink = self.sinks.get(row.sink)
        try:
            if sink is None:
                raise DeliveryError(f"no sink named {row.sink!r}", retryable=False)
            await sink.deliver(row)
        except DeliveryError as exc:
            return self._failed(row, str(exc), exc.retryable)
        except Exception as exc:  # a sink bug must not stop the outbox
            return self._failed(row, f"{type(exc).__name__}: {exc}", retryable=True)
        with self.store.transaction():
            self.store.mark_sent(row.id, self.clock())
        log.info(
            "delivered event=%s incident=%s to=%s", row.event, row.incident_id, shown_target(row)
        )
        self._count(row, "sent")
        return "sent"

    def _failed(self, row: OutboxRow, reason: str, retryable: bool) -> str:
        attempt = row.attempts + 1
        give_up = not retryable or attempt >= self.max_attempts
        retry_at = None if give_up else self.clock() + backoff(attempt)
        with self.store.transaction():
            self.store.mark_failed(row.id, reason, retry_at)
        log.warning(
            "delivery failed event=%s incident=%s to=%s attempt=%s reason=%r%s",
            row.event,
            row.incident_id,
            shown_target(row),
            attempt,
            reason,
            " (dead letter)" if give_up else "",
        )
        result = "dead" if give_up else "retry"
        self._count(row, result)
        return result

    def _count(self, row: OutboxRow, result: str) -> None:
        if self.metrics:
            self.metrics.deliveries.labels(row.sink, result).inc()
