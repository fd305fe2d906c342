"""Notifications to people, through apprise: every apprise URL scheme works unchanged."""

from __future__ import annotations

import asyncio

import apprise

from sentinel.store import OutboxRow
from sentinel.tickets.base import DeliveryError, sinks
from sentinel.tickets.policy import apprise_url_problem


@sinks.register("apprise")
class AppriseSink:
    """Sends one outbox row to its apprise URL; apprise's own log says why a send failed."""

    async def deliver(self, row: OutboxRow) -> None:
        problem = apprise_url_problem(row.target)
        if problem:
            raise DeliveryError(problem, retryable=False)
        notifier = apprise.Apprise()
        notifier.add(row.target)
        result = await asyncio.to_thread(
            notifier.notify, body=row.body, title=row.title, notify_type=row.notify_type
        )
        if not result:
            raise DeliveryError(_reason(result), retryable=True)


def _reason(result: apprise.AppriseResult) -> str:
    """The last warning apprise logged for the failed send (it names hosts, not secrets)."""
    lines = [
        str(line).split(" - ", 2)[-1]
        for outcome in result.results
        for line in outcome.logs()
        if " - WARNING - " in str(line) or " - ERROR - " in str(line)
    ]
    return lines[-1] if lines else "notification was not delivered"
