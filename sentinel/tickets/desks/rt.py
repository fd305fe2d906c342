"""Request Tracker tickets through REST2 (``/REST/2.0``, RT 5).

Create posts a ticket to the configured queue with ``Subject`` and ``Content``; updates are
comments (``/ticket/<id>/comment``); acknowledge and reopen set the status ``open``;
resolve comments and sets ``resolved``. Authentication is an RT auth token
(``Authorization: token …``) or, without one, the user and password (basic).
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, model_validator

from sentinel.tickets.external import ExternalConfig, ExternalDesk, external_desks, field


class RtConfig(ExternalConfig):
    queue: str = "General"
    token: str = ""
    user: str = ""
    password: str = ""
    priority: dict[str, int] = Field(
        default_factory=lambda: {"P1": 90, "P2": 70, "P3": 50, "P4": 30, "P5": 10}
    )

    @model_validator(mode="after")
    def _credentials(self) -> RtConfig:
        if not self.token and not (self.user and self.password):
            raise ValueError("give token, or user and password")
        return self


@external_desks.register("rt")
class RtDesk(ExternalDesk):
    Config = RtConfig
    config: RtConfig

    async def _request(self, method: str, path: str, body: Any) -> Any:
        url = self.config.url.rstrip("/") + "/REST/2.0" + path
        if self.config.token:
            headers = {"Authorization": f"token {self.config.token}"}
            return await self.call(method, url, body=body, headers=headers)
        basic = (self.config.user, self.config.password)
        return await self.call(method, url, body=body, basic=basic)

    async def create(self, payload: dict[str, Any]) -> str:
        ticket = {
            "Queue": self.config.queue,
            "Subject": payload["title"][:200],
            "Content": payload["text"],
            "ContentType": "text/plain",
            "Priority": self.config.priority.get(payload["incident"]["priority"], 50),
        }
        return str(field(await self._request("POST", "/ticket", ticket), "id"))

    async def _comment(self, ref: str, payload: dict[str, Any]) -> None:
        comment = {
            "Content": f"{payload['title']}\n\n{payload['text']}",
            "ContentType": "text/plain",
        }
        await self._request("POST", f"/ticket/{ref}/comment", comment)

    async def update(self, ref: str, payload: dict[str, Any]) -> None:
        await self._comment(ref, payload)
        if payload["event"] in ("acknowledged", "reopened"):
            await self._request("PUT", f"/ticket/{ref}", {"Status": "open"})

    async def resolve(self, ref: str, payload: dict[str, Any]) -> None:
        await self._comment(ref, payload)
        await self._request("PUT", f"/ticket/{ref}", {"Status": "resolved"})
