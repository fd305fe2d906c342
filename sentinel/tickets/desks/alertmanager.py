"""The Alertmanager webhook format, outbound: anything that takes Alertmanager's webhooks
(chat bridges, another sentinel, custom tooling) takes sentinel's incidents.

One group per incident (``groupKey`` ``sentinel/incident/<id>``), version "4", with the
incident's alerts in Alertmanager's shape; ``truncatedAlerts`` counts those left out.
"""

from __future__ import annotations

import json
import time
from typing import Any

from pydantic import Field

from sentinel.store import OutboxRow
from sentinel.tickets.external import ExternalDesk, PagerConfig, external_desks

ZERO_TIME = "0001-01-01T00:00:00Z"


class AlertmanagerOutConfig(PagerConfig):
    bearer_token: str = Field("", description="sent as Authorization: Bearer, when set")
    receiver: str = "sentinel"
    external_url: str = ""


def _rfc3339(ts: float | None) -> str:
    if ts is None:
        return ZERO_TIME
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts)) + f".{int(ts % 1 * 1000):03d}Z"


def _common(maps: list[dict[str, str]]) -> dict[str, str]:
    if not maps:
        return {}
    return {k: v for k, v in maps[0].items() if all(m.get(k) == v for m in maps[1:])}


def webhook_for(config: AlertmanagerOutConfig, payload: dict[str, Any]) -> dict[str, Any]:
    incident = payload["incident"]
    resolved = payload["event"] == "resolved"
    alerts = [
        {
            "status": "resolved" if resolved else a["status"],
            "labels": a["labels"],
            "annotations": a["annotations"],
            "startsAt": _rfc3339(a["starts_at"]),
            "endsAt": _rfc3339(a["ends_at"] or (incident["resolved_at"] if resolved else None)),
            "generatorURL": a["generator_url"],
            "fingerprint": a["fingerprint"],
        }
        for a in payload["alerts"]
    ]
    return {
        "version": "4",
        "groupKey": f"sentinel/incident/{incident['id']}",
        "truncatedAlerts": payload["alerts_total"] - len(alerts),
        "status": "resolved" if resolved else "firing",
        "receiver": config.receiver,
        "groupLabels": {"incident": str(incident["id"])},
        "commonLabels": _common([a["labels"] for a in alerts]),
        "commonAnnotations": _common([a["annotations"] for a in alerts]),
        "externalURL": config.external_url,
        "alerts": alerts,
    }


@external_desks.register("alertmanager")
class AlertmanagerOutDesk(ExternalDesk):
    Config = AlertmanagerOutConfig
    config: AlertmanagerOutConfig

    async def deliver(self, row: OutboxRow) -> None:
        body = webhook_for(self.config, json.loads(row.body))
        headers = (
            {"Authorization": f"Bearer {self.config.bearer_token}"}
            if self.config.bearer_token
            else None
        )
        async with self.open_session():
            await self.call("POST", self.config.url, body=body, headers=headers)
