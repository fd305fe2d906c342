"""ServiceNow incidents through the Table API (``/api/now/table/incident``).

Create posts ``short_description``, ``description``, ``impact`` and ``urgency`` (ITIL's 1-3,
as sentinel computes them) and ``correlation_id`` ``sentinel-<id>``; before creating, the
sink looks that correlation id up, so a create repeated after a crash finds the first one.
Updates add ``work_notes``; acknowledge moves the incident to In Progress (state 2);
resolve sets state 6 (Resolved) with the ``close_code`` and ``close_notes`` ServiceNow
requires. Basic authentication.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from pydantic import Field

from sentinel.tickets.external import ExternalConfig, ExternalDesk, external_desks, field

IN_PROGRESS, RESOLVED = "2", "6"


class ServiceNowConfig(ExternalConfig):
    user: str
    password: str
    close_code: str = "Solved (Permanently)"
    caller_id: str = Field("", description="sys_id or user name of the caller, if required")


@external_desks.register("servicenow")
class ServiceNowDesk(ExternalDesk):
    Config = ServiceNowConfig
    config: ServiceNowConfig

    @property
    def _table(self) -> str:
        return self.config.url.rstrip("/") + "/api/now/table/incident"

    async def _request(self, method: str, url: str, body: Any = None) -> Any:
        basic = (self.config.user, self.config.password)
        headers = {"Accept": "application/json"}
        return await self.call(method, url, body=body, headers=headers, basic=basic)

    async def create(self, payload: dict[str, Any]) -> str:
        incident = payload["incident"]
        correlation = f"sentinel-{incident['id']}"
        query = urlencode(
            {
                "sysparm_query": f"correlation_id={correlation}",
                "sysparm_fields": "sys_id",
                "sysparm_limit": "1",
            }
        )
        found = field(await self._request("GET", f"{self._table}?{query}"), "result")
        if found:
            return str(field(found, 0, "sys_id"))
        record = {
            "short_description": payload["title"][:160],
            "description": payload["text"],
            "impact": str(incident["impact"]),
            "urgency": str(incident["urgency"]),
            "correlation_id": correlation,
            "correlation_display": "sentinel",
        }
        if self.config.caller_id:
            record["caller_id"] = self.config.caller_id
        created = await self._request("POST", self._table, record)
        return str(field(created, "result", "sys_id"))

    async def update(self, ref: str, payload: dict[str, Any]) -> None:
        change: dict[str, Any] = {"work_notes": f"{payload['title']}\n\n{payload['text']}"}
        if payload["event"] in ("acknowledged", "reopened"):
            change["state"] = IN_PROGRESS
        await self._request("PATCH", f"{self._table}/{ref}", change)

    async def resolve(self, ref: str, payload: dict[str, Any]) -> None:
        change = {
            "state": RESOLVED,
            "close_code": self.config.close_code,
            "close_notes": f"{payload['title']}\n\n{payload['text']}",
        }
        await self._request("PATCH", f"{self._table}/{ref}", change)
