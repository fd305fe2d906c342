"""Group commit for pushed alerts: requests that arrive together are handled together.

Prometheus sends its alerts in many small concurrent batches. Each request is validated on
its own (a bad one is refused whole and stores nothing), then waits for the next pipeline
pass, which takes every request queued by then as one batch in one durable transaction.
A request is answered only after that transaction commits, so an accepted alert is on disk;
the cost of a commit (and of correlating a batch) is shared by all requests in it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence

from sentinel.model import Alert
from sentinel.pipeline import Pipeline

log = logging.getLogger("sentinel.api")


class AlertIntake:
    def __init__(self, pipeline: Pipeline, clock: Callable[[], float]) -> None:
        self.pipeline = pipeline
        self.clock = clock
        self._queued: list[tuple[Sequence[Alert], asyncio.Future[None]]] = []

    async def submit(self, alerts: Sequence[Alert]) -> None:
        """Returns once ``alerts`` are committed; raises what the pipeline raised."""
        future = asyncio.get_running_loop().create_future()
        if not self._queued:
            # After the callbacks already ready: requests read in the same pass join in.
            asyncio.get_running_loop().call_soon(self._flush)
        self._queued.append((alerts, future))
        await future

    def _flush(self) -> None:
        queued, self._queued = self._queued, []
        # A request that timed out while queued was answered with a refusal: store none of it.
        waiting = [(alerts, future) for alerts, future in queued if not future.done()]
        if not waiting:
            return
        try:
            self.pipeline.alerts([a for alerts, _ in waiting for a in alerts], self.clock())
        except Exception as exc:  # every request in the failed transaction learns of it
            log.exception("pipeline failed on %d pushed requests", len(waiting))
            for _, future in waiting:
                future.set_exception(exc)
            return
        for _, future in waiting:
            future.set_result(None)
