"""PagerDuty Events API v2: trigger, acknowledge and resolve one alert per incident.

Documented at developer.pagerduty.com ("Send an Alert Event"): ``POST /v2/enqueue`` with
``routing_key``, ``event_action`` and ``dedup_key``; a trigger carries ``payload``
(``summary`` of at most 1,024 characters, ``source``, ``severity``). Re-triggering with the
same dedup_key updates the alert instead of paging twice, so delivery repeats are harmless.
An event may not exceed 512 KB: evidence is cut to fit rather than the event refused.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import Field

from sentinel.store import OutboxRow
from sentinel.tickets.external import ExternalDesk, PagerConfig, external_desks

SUMMARY_LIMIT = 1024
EVENT_LIMIT = 512 * 1024
SEVERITY = {"P1": "critical", "P2": "error", "P3": "warning", "P4": "info", "P5": "info"}
ACTION = {"acknowledged": "acknowledge", "resolved": "resolve"}  # every other event triggers


class PagerDutyConfig(PagerConfig):
    url: str = Field("https://events.pagerduty.com/v2/enqueue", pattern=r"^https?://")
    routing_key: str = Field(min_length=32, max_length=32)
    hold_when_silenced: bool = True  # a pager: silences hold it like any page


def event_for(routing_key: str, payload: dict[str, Any]) -> dict[str, Any]:
    """The Events v2 body for one desk event, within PagerDuty's size limits."""
    incident = payload["incident"]
    action = ACTION.get(payload["event"], "trigger")
    event: dict[str, Any] = {
        "routing_key": routing_key,
        "event_action": action,
        "dedup_key": f"sentinel-incident-{incident['id']}",
    }
    if action != "trigger":
        return event
    cause = incident["root_causes"][0]["node"] if incident["root_causes"] else ""
    summary = payload["title"]
    event["payload"] = {
        "summary": summary if len(summary) <= SUMMARY_LIMIT else summary[: SUMMARY_LIMIT - 1] + "…",
        "source": cause or ", ".join(incident["services"]) or "sentinel",
        "severity": SEVERITY.get(incident["priority"], "warning"),
        "component": cause or None,
        "group": ", ".join(incident["services"]) or None,
        "class": payload["event"],
        "custom_details": {"details": payload["text"], "alerts": payload["alerts"]},
    }
    event["client"] = "sentinel"
    while (
        len(json.dumps(event).encode()) > EVENT_LIMIT
        and event["payload"]["custom_details"]["alerts"]
    ):
        alerts = event["payload"]["custom_details"]["alerts"]
        del alerts[len(alerts) // 2 :]
    details = event["payload"]["custom_details"]
    while len(json.dumps(event).encode()) > EVENT_LIMIT:
        details["details"] = details["details"][: len(details["details"]) // 2] + "…"
    return event


@external_desks.register("pagerduty")
class PagerDutyDesk(ExternalDesk):
    Config = PagerDutyConfig
    config: PagerDutyConfig

    async def deliver(self, row: OutboxRow) -> None:
        event = event_for(self.config.routing_key, json.loads(row.body))
        async with self.open_session():
            await self.call("POST", self.config.url, body=event)
