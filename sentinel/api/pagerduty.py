"""PagerDuty Events API v2 receiver (``POST /v2/enqueue``): tools that page PagerDuty can
page sentinel instead. The routing key must be sentinel's API token."""

from __future__ import annotations

import hmac
import json
import uuid
from typing import Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, StrictStr, ValidationError, model_validator

from sentinel.api.base import Rejected, context
from sentinel.model import Alert, AlertStatus, IncidentStatus
from sentinel.schema import describe, parse_time
from sentinel.store import EVENTS_SOURCE

MAX_BODY = 512 * 1024
SEVERITY = {"critical": "critical", "error": "critical", "warning": "warning", "info": "info"}


class Payload(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)
    summary: StrictStr = Field(min_length=1, max_length=1024)
    source: StrictStr = Field(min_length=1, max_length=255)
    severity: Literal["critical", "error", "warning", "info"]
    timestamp: StrictStr | None = None
    component: StrictStr | None = None
    group: StrictStr | None = None
    class_: StrictStr | None = Field(None, alias="class")
    custom_details: dict | list | str | int | float | bool | None = None


class Event(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)
    routing_key: StrictStr
    event_action: Literal["trigger", "acknowledge", "resolve"]
    dedup_key: StrictStr | None = Field(None, min_length=1, max_length=255)
    payload: Payload | None = None

    @model_validator(mode="after")
    def _needs(self) -> Event:
        if self.event_action == "trigger" and self.payload is None:
            raise ValueError("payload is required for trigger events")
        if self.event_action != "trigger" and self.dedup_key is None:
            raise ValueError(f"dedup_key is required for {self.event_action} events")
        return self


def invalid(message: str) -> web.Response:
    return web.json_response(
        {"status": "invalid event", "message": "Event object is invalid", "errors": [message]},
        status=400,
    )


async def enqueue(request: web.Request) -> web.Response:
    ctx = context(request)
    raw = await request.read()
    if len(raw) > MAX_BODY:
        raise Rejected(413, "too_large", "events are limited to 512 KB")
    try:
        event = Event.model_validate(json.loads(raw))
        timestamp = parse_time(event.payload.timestamp, "timestamp") if event.payload else None
    except (ValueError, UnicodeDecodeError) as exc:
        detail = describe(exc) if isinstance(exc, ValidationError) else str(exc)
        ctx.metrics.rejected_requests.labels("invalid_event").inc()
        return invalid(detail)
    if not hmac.compare_digest(event.routing_key.encode(), ctx.token.encode()):
        raise Rejected(401, "unauthorized", "routing_key is not a valid integration key")
    now = ctx.clock()
    dedup_key = event.dedup_key or uuid.uuid4().hex
    with ctx.store.transaction():
        firing = ctx.store.firing_event(dedup_key)
        if event.event_action == "trigger":
            assert event.payload is not None
            ctx.pipeline.alerts([to_alert(event.payload, dedup_key, timestamp or now, firing)], now)
        elif firing is not None and event.event_action == "resolve":
            resolved = Alert(
                firing.labels,
                firing.annotations,
                AlertStatus.RESOLVED,
                firing.starts_at,
                now,
                firing.source,
            )
            ctx.pipeline.alerts([resolved], now)
        elif firing is not None:
            incident_id = ctx.store.firing_alert_incident(firing.fingerprint)
            incident = ctx.store.incident(incident_id) if incident_id else None
            if incident is not None and incident.status == IncidentStatus.OPEN:
                ctx.pipeline.desk.acknowledge(incident.id, "pagerduty-event", now)
    return web.json_response(
        {"status": "success", "message": "Event processed", "dedup_key": dedup_key}, status=202
    )


def to_alert(payload: Payload, dedup_key: str, starts_at: float, firing: Alert | None) -> Alert:
    """Labels stay those of the first trigger, so re-triggers refresh the same alert."""
    labels = (
        dict(firing.labels)
        if firing
        else {
            "alertname": payload.class_ or "PagerDutyEvent",
            "dedup_key": dedup_key,
            "service": payload.component or payload.source,
            "severity": SEVERITY[payload.severity],
        }
    )
    annotations = {"summary": payload.summary, "source": payload.source}
    if payload.group:
        annotations["group"] = payload.group
    if payload.custom_details is not None:
        annotations["custom_details"] = json.dumps(payload.custom_details)[:4096]
    return Alert(labels, annotations, AlertStatus.FIRING, starts_at, None, EVENTS_SOURCE)


def routes() -> list[web.RouteDef]:
    return [web.post("/v2/enqueue", enqueue)]
