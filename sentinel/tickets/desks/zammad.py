"""Zammad tickets (``/api/v1/tickets``), token authentication.

Create opens a ticket in the configured group for the configured customer with a first
internal note; updates are internal notes (``/api/v1/ticket_articles``); resolve sets the
state to ``closed``. Priority follows sentinel's: P1-P2 high (3), P3 normal (2), else low.
"""

from __future__ import annotations

from typing import Any

from sentinel.tickets.external import ExternalConfig, ExternalDesk, external_desks, field

PRIORITY_ID = {"P1": 3, "P2": 3, "P3": 2, "P4": 1, "P5": 1}


class ZammadConfig(ExternalConfig):
    token: str
    group: str = "Users"
    customer: str


@external_desks.register("zammad")
class ZammadDesk(ExternalDesk):
    Config = ZammadConfig
    config: ZammadConfig

    async def _request(self, method: str, path: str, body: Any) -> Any:
        headers = {"Authorization": f"Token token={self.config.token}"}
        url = self.config.url.rstrip("/") + "/api/v1" + path
        return await self.call(method, url, body=body, headers=headers)

    def _note(self, payload: dict[str, Any]) -> dict[str, Any]:
        return {
            "subject": payload["title"][:250],
            "body": payload["text"],
            "type": "note",
            "internal": True,
        }

    async def create(self, payload: dict[str, Any]) -> str:
        ticket = {
            "title": payload["title"][:250],
            "group": self.config.group,
            "customer": self.config.customer,
            "priority_id": PRIORITY_ID.get(payload["incident"]["priority"], 2),
            "article": self._note(payload),
        }
        return str(field(await self._request("POST", "/tickets", ticket), "id"))

    async def update(self, ref: str, payload: dict[str, Any]) -> None:
        await self._request(
            "POST", "/ticket_articles", {"ticket_id": int(ref), **self._note(payload)}
        )

    async def resolve(self, ref: str, payload: dict[str, Any]) -> None:
        await self.update(ref, payload)
        await self._request("PUT", f"/tickets/{ref}", {"state": "closed"})
