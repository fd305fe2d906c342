"""GLPI tickets through its REST API (``apirest.php``).

Every delivery opens a session (``initSession`` with the user token and, if set, the app
token), works the ticket and closes the session. Create posts an incident-type Ticket with
``urgency`` and ``impact`` on GLPI's 1-5 scale; updates are ``ITILFollowup`` items; resolve
sets status 5 (solved) after a last follow-up.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from pydantic import Field

from sentinel.tickets.external import ExternalConfig, ExternalDesk, external_desks, field

INCIDENT, SOLVED = 1, 5
SCALE = {1: 5, 2: 3, 3: 2}  # ITIL 1 (highest) .. 3 -> GLPI 5 (very high) .. 1 (very low)


class GlpiConfig(ExternalConfig):
    user_token: str
    app_token: str = Field("", description="App-Token header, when the API client needs one")


@external_desks.register("glpi")
class GlpiDesk(ExternalDesk):
    Config = GlpiConfig
    config: GlpiConfig

    @property
    def _api(self) -> str:
        return self.config.url.rstrip("/") + "/apirest.php"

    def _headers(self, session: str | None = None) -> dict[str, str]:
        headers = {"App-Token": self.config.app_token} if self.config.app_token else {}
        if session:
            headers["Session-Token"] = session
        return headers

    @contextlib.asynccontextmanager
    async def _session(self) -> AsyncIterator[str]:
        auth = {**self._headers(), "Authorization": f"user_token {self.config.user_token}"}
        opened = await self.call("GET", f"{self._api}/initSession", headers=auth)
        token = str(field(opened, "session_token"))
        try:
            yield token
        finally:
            with contextlib.suppress(Exception):
                await self.call("GET", f"{self._api}/killSession", headers=self._headers(token))

    async def create(self, payload: dict[str, Any]) -> str:
        incident = payload["incident"]
        ticket = {
            "name": payload["title"][:255],
            "content": payload["text"],
            "type": INCIDENT,
            "urgency": SCALE.get(incident["urgency"], 3),
            "impact": SCALE.get(incident["impact"], 3),
        }
        async with self._session() as token:
            created = await self.call(
                "POST", f"{self._api}/Ticket", body={"input": ticket}, headers=self._headers(token)
            )
        return str(field(created, "id"))

    async def _follow_up(self, token: str, ref: str, payload: dict[str, Any]) -> None:
        followup = {
            "itemtype": "Ticket",
            "items_id": int(ref),
            "content": f"{payload['title']}\n\n{payload['text']}",
        }
        await self.call(
            "POST",
            f"{self._api}/Ticket/{ref}/ITILFollowup",
            body={"input": followup},
            headers=self._headers(token),
        )

    async def update(self, ref: str, payload: dict[str, Any]) -> None:
        async with self._session() as token:
            await self._follow_up(token, ref, payload)

    async def resolve(self, ref: str, payload: dict[str, Any]) -> None:
        async with self._session() as token:
            await self._follow_up(token, ref, payload)
            await self.call(
                "PUT",
                f"{self._api}/Ticket/{ref}",
                body={"input": {"status": SOLVED}},
                headers=self._headers(token),
            )
