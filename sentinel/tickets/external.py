"""External desks and pagers: the incident's life mirrored to another system.

Each configured sink (``sinks:`` in the configuration) receives, through the outbox, one row
per desk event it subscribes to: ``opened`` creates the external record, ``escalated``,
``sla_breach``, ``acknowledged``, ``reopened`` and ``note`` (a work note; not for pagers)
update it, ``resolved`` resolves it. Rows
for one sink are delivered in order, so creation comes before its updates. The row body is
the incident as it was when the event happened (``incident_payload``), so a retry sends
what was decided then.

A sink remembers the external id it created (``external_refs`` in the store) and never
creates twice for one incident; where the vendor offers an idempotency key (PagerDuty's
dedup_key, ServiceNow's correlation_id) it is used as well. Failures follow the sink
protocol: 429, 5xx, network errors and unreadable answers are retried with backoff, other
4xx go to the dead letters.
"""

from __future__ import annotations

import base64
import contextlib
import json
from collections.abc import AsyncIterator, Mapping
from typing import Any, ClassVar, Literal

import aiohttp
from pydantic import Field

from sentinel.model import Incident
from sentinel.registry import Registry
from sentinel.schema import Duration, StrictModel
from sentinel.store import OutboxRow, Store
from sentinel.tickets.base import DeliveryError

PageEvent = Literal["opened", "reopened", "escalated", "sla_breach", "acknowledged", "resolved"]
# A work note has no place in a pager's alert (PagerDuty and Alertmanager would re-trigger),
# only in a desk's record: a comment, ServiceNow's work notes.
Event = Literal[PageEvent, "note"]
PAGE_EVENTS: tuple[str, ...] = PageEvent.__args__  # type: ignore[attr-defined]
EVENTS: tuple[str, ...] = (*PAGE_EVENTS, "note")
MAX_ALERTS = 100  # alerts carried in one row; the rest are counted, not listed


class ExternalConfig(StrictModel):
    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    kind: str
    url: str = Field(pattern=r"^https?://")
    events: list[Event] = Field(default_factory=lambda: list(EVENTS))
    timeout: Duration = 10.0
    hold_when_silenced: bool = Field(
        False, description="skip events while the incident is silenced (pagers)"
    )


class PagerConfig(ExternalConfig):
    """A pager's sink: it takes the events of an alert's life, not work notes."""

    events: list[PageEvent] = Field(  # type: ignore[assignment]
        default_factory=lambda: list(PAGE_EVENTS)
    )


class ExternalDesk:
    """Base of every external sink: dispatches a row to ``create``, ``update`` or
    ``resolve`` and keeps the external reference."""

    Config: ClassVar[type[ExternalConfig]] = ExternalConfig

    def __init__(self, config: ExternalConfig, store: Store) -> None:
        self.config = config
        self.store = store

    async def deliver(self, row: OutboxRow) -> None:
        payload = json.loads(row.body)
        incident_id = int(payload["incident"]["id"])
        ref = self.store.external_ref(self.config.name, incident_id)
        async with self.open_session():
            if ref is None and payload["event"] != "resolved":
                ref = await self.create(payload)
                with self.store.transaction():
                    self.store.set_external_ref(self.config.name, incident_id, ref)
                if payload["event"] == "opened":
                    return
            if ref is None:
                return  # resolved before it was ever created there: nothing to close
            if payload["event"] == "resolved":
                await self.resolve(ref, payload)
            else:
                await self.update(ref, payload)

    @contextlib.asynccontextmanager
    async def open_session(self) -> AsyncIterator[None]:
        """An HTTP session for one delivery (``call`` uses it)."""
        timeout = aiohttp.ClientTimeout(total=self.config.timeout)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            self.session = session
            yield

    async def create(self, payload: dict[str, Any]) -> str:
        """Create the external record; return its id."""
        raise NotImplementedError

    async def update(self, ref: str, payload: dict[str, Any]) -> None:
        raise NotImplementedError

    async def resolve(self, ref: str, payload: dict[str, Any]) -> None:
        raise NotImplementedError

    async def call(
        self,
        method: str,
        url: str,
        *,
        body: Any = None,
        data: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        basic: tuple[str, str] | None = None,
    ) -> Any:
        """One HTTP request (``basic``: user and password for HTTP basic authentication);
        the answer's JSON (None when empty), or ``DeliveryError``."""
        headers = dict(headers or {})
        if basic is not None:
            token = base64.b64encode(f"{basic[0]}:{basic[1]}".encode()).decode()
            headers["Authorization"] = f"Basic {token}"
        try:
            async with self.session.request(
                method, url, json=body, data=data, headers=headers
            ) as response:
                text = await response.text()
                status = response.status
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise DeliveryError(f"{method} {url}: {type(exc).__name__}: {exc}", True) from None
        if status >= 300:
            retryable = status == 429 or status >= 500
            raise DeliveryError(f"{method} {url}: HTTP {status}: {text[:300]}", retryable)
        if not text.strip():
            return None
        try:
            return json.loads(text)
        except ValueError:
            raise DeliveryError(
                f"{method} {url}: answer is not JSON: {text[:100]!r}", True
            ) from None


def field(answer: Any, *path: str | int) -> Any:
    """A value deep in a vendor's JSON answer, or a retryable ``DeliveryError`` naming what
    was missing (a desk answering garbage is an outage, not a crash)."""
    value = answer
    for key in path:
        try:
            value = value[key]
        except (KeyError, IndexError, TypeError):
            where = "/".join(str(p) for p in path)
            raise DeliveryError(
                f"unexpected answer: no {where} in {str(answer)[:200]}", True
            ) from None
    return value


external_desks: Registry[type[ExternalDesk]] = Registry("sink")


def incident_payload(
    store: Store, incident: Incident, event: str, title: str, text: str, actor: str
) -> dict[str, Any]:
    """The incident as sinks see it at one event: what they render their records from."""
    alerts = store.incident_alerts(incident.id, MAX_ALERTS)  # the earliest: how it began
    return {
        "event": event,
        "actor": actor,
        "at": incident.updated_at,
        "title": title,
        "text": text,
        "incident": {
            "id": incident.id,
            "title": incident.title,
            "status": incident.status.value,
            "priority": incident.priority,
            "impact": incident.impact,
            "urgency": incident.urgency,
            "services": list(incident.services),
            "created_at": incident.created_at,
            "updated_at": incident.updated_at,
            "resolved_at": incident.resolved_at,
            "escalation_level": incident.escalation_level,
            "root_causes": [
                {"node": c.node, "score": c.score, "evidence": list(c.evidence)}
                for c in incident.root_causes[:3]
            ],
        },
        "alerts": [
            {
                "fingerprint": a.fingerprint,
                "status": a.status.value,
                "labels": dict(a.labels),
                "annotations": dict(a.annotations),
                "starts_at": a.starts_at,
                "ends_at": a.ends_at,
                "generator_url": a.generator_url,
            }
            for a in alerts
        ],
        "alerts_total": store.count_incident_alerts(incident.id),
    }
