"""Jira Service Management requests (``/rest/servicedeskapi/request``).

Create raises a request in the configured service desk and request type with ``summary``
and ``description``; updates are internal comments (``public: false``); resolve takes the
configured workflow transition with a comment. Basic authentication (an Atlassian account
and API token). Jira offers no idempotency key: the request's key is stored the moment it is
answered, so only a crash between the answer and that write could raise a second one.
"""

from __future__ import annotations

from typing import Any

from sentinel.tickets.external import ExternalConfig, ExternalDesk, external_desks, field


class JiraConfig(ExternalConfig):
    user: str
    api_token: str
    service_desk_id: str
    request_type_id: str
    resolve_transition_id: str


@external_desks.register("jira")
class JiraDesk(ExternalDesk):
    Config = JiraConfig
    config: JiraConfig

    async def _request(self, method: str, path: str, body: Any) -> Any:
        url = self.config.url.rstrip("/") + "/rest/servicedeskapi/request" + path
        basic = (self.config.user, self.config.api_token)
        headers = {"Accept": "application/json"}
        return await self.call(method, url, body=body, headers=headers, basic=basic)

    async def create(self, payload: dict[str, Any]) -> str:
        created = await self._request(
            "POST",
            "",
            {
                "serviceDeskId": self.config.service_desk_id,
                "requestTypeId": self.config.request_type_id,
                "requestFieldValues": {
                    "summary": payload["title"][:255],
                    "description": payload["text"],
                },
            },
        )
        return str(field(created, "issueKey"))

    async def update(self, ref: str, payload: dict[str, Any]) -> None:
        body = {"body": f"{payload['title']}\n\n{payload['text']}", "public": False}
        await self._request("POST", f"/{ref}/comment", body)

    async def resolve(self, ref: str, payload: dict[str, Any]) -> None:
        body = {
            "id": self.config.resolve_transition_id,
            "additionalComment": {"body": f"{payload['title']}\n\n{payload['text']}"},
        }
        await self._request("POST", f"/{ref}/transition", body)
