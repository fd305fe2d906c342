"""The sink protocol: deliver one outbox row somewhere outside sentinel.

The desk only queues; sinks deliver. A sink either returns (delivered) or raises
``DeliveryError`` saying whether a retry could help: network faults, 429 and 5xx are worth
retrying with backoff, a 4xx or an invalid URL is not and goes to the dead letters.
Plugins register under ``sinks`` by the name stored in each outbox row.
"""

from __future__ import annotations

from typing import Protocol

from sentinel.registry import Registry
from sentinel.store import OutboxRow


class DeliveryError(Exception):
    def __init__(self, reason: str, retryable: bool) -> None:
        super().__init__(reason)
        self.retryable = retryable


class Sink(Protocol):
    async def deliver(self, row: OutboxRow) -> None: ...


sinks: Registry[type[Sink]] = Registry("sink")

# The sinks every daemon has; configured external sinks may not take these names.
BUILT_IN_SINKS = frozenset({"apprise"})
