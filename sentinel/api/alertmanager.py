"""Alertmanager compatibility: the v2 API (alerts, silences, status) and the webhook receiver.

Prometheus can name sentinel as its Alertmanager, ``amtool`` works against it unchanged,
and an existing Alertmanager can forward to it. Pushed alerts follow Alertmanager's
lifetime rules: a firing alert lives until its ``endsAt`` or, without one, for
``resolve_timeout`` unless it is sent again. One difference on purpose: a batch with any
invalid alert is refused whole (400) instead of storing the valid part.
"""

from __future__ import annotations

import platform
import uuid
from typing import Annotated, Literal

import msgspec
from aiohttp import web
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictStr,
)

from sentinel import __version__
from sentinel.api.base import (
    Rejected,
    check_labels,
    checked_fingerprint,
    context,
    decode_body,
    format_time,
    parse_body,
)
from sentinel.model import Alert, AlertStatus
from sentinel.schema import parse_time
from sentinel.silences import Matcher, Silence

RECEIVER = "sentinel"


class _Lenient(BaseModel):
    """Unknown fields are ignored, as Alertmanager's own decoder does; types are strict."""

    model_config = ConfigDict(extra="ignore", strict=True)


class PostableAlert(msgspec.Struct, gc=False):
    """Types are checked here; label names and times by ``to_alert``, per alert. Text only,
    so never in a cycle: untracked by the cyclic collector, as ``Alert`` is."""

    labels: dict[str, str]
    annotations: dict[str, str] = {}
    startsAt: str | None = None
    endsAt: str | None = None
    generatorURL: str = ""


POSTABLE_ALERTS = msgspec.json.Decoder(list[PostableAlert])  # the v2 body: a bare array


def to_alert(
    posted: PostableAlert | WebhookAlert, now: float, expiry: float | None, source: str
) -> Alert:
    """One pushed alert as sentinel's ``Alert``: resolved once its end has passed."""
    if not posted.labels:
        raise ValueError("at least one label pair required")
    fingerprint = checked_fingerprint(posted.labels)
    if posted.annotations:
        check_labels(posted.annotations, "annotations")
    starts = parse_time(posted.startsAt, "startsAt") or now
    ends = parse_time(posted.endsAt, "endsAt")
    if ends is not None and ends < starts:
        raise ValueError("start time must be before end time")
    resolved = ends is not None and ends <= now
    if isinstance(posted, WebhookAlert):
        resolved = posted.status == "resolved"
    return Alert(
        labels=posted.labels,
        annotations=posted.annotations,
        status=AlertStatus.RESOLVED if resolved else AlertStatus.FIRING,
        starts_at=starts,
        ends_at=(ends or now) if resolved else (ends if ends is not None else expiry),
        source=source,
        generator_url=posted.generatorURL,
        fingerprint=fingerprint,
    )


def _convert(
    items: list[PostableAlert] | list[WebhookAlert], now: float, expiry: float | None, source: str
) -> list[Alert]:
    alerts, problems = [], []
    for index, item in enumerate(items):
        try:
            alerts.append(to_alert(item, now, expiry, source))
        except ValueError as exc:
            problems.append(f"alerts[{index}]: {exc}")
    if problems:
        more = f"; and {len(problems) - 5} more" if len(problems) > 5 else ""
        raise Rejected(400, "invalid_alert", "; ".join(problems[:5]) + more)
    return alerts


async def post_alerts(request: web.Request) -> web.Response:
    ctx = context(request)
    posted = await decode_body(request, POSTABLE_ALERTS)
    now = ctx.clock()
    await ctx.intake.submit(_convert(posted, now, now + ctx.resolve_timeout, "alertmanager-api"))
    return web.Response(status=200)


def _matchers_from_query(request: web.Request) -> list[Matcher]:
    try:
        return [Matcher.parse(text) for text in request.query.getall("filter", [])]
    except ValueError as exc:
        raise Rejected(400, "bad_filter", str(exc)) from None


def _flag(request: web.Request, name: str) -> bool:
    value = request.query.get(name, "true").lower()
    if value not in ("true", "false"):
        raise Rejected(400, "bad_query", f"{name} must be true or false")
    return value == "true"


async def get_alerts(request: web.Request) -> web.Response:
    ctx = context(request)
    now = ctx.clock()
    matchers = _matchers_from_query(request)
    show_active, show_silenced = _flag(request, "active"), _flag(request, "silenced")
    _flag(request, "inhibited"), _flag(request, "unprocessed")  # validated; none of either
    silences = ctx.store.active_silences(now)
    out = []
    for alert, updated in ctx.store.firing_alerts_updated():
        labels = dict(alert.labels)
        if not all(m.matches(labels) for m in matchers):
            continue
        silenced_by = [s.id for s in silences if s.silences(labels, now)]
        if (silenced_by and not show_silenced) or (not silenced_by and not show_active):
            continue
        out.append(
            {
                "labels": labels,
                "annotations": dict(alert.annotations),
                "startsAt": format_time(alert.starts_at),
                "endsAt": format_time(alert.ends_at),
                "updatedAt": format_time(updated),
                "generatorURL": alert.generator_url,
                "fingerprint": alert.fingerprint,
                "receivers": [{"name": RECEIVER}],
                "status": {
                    "state": "suppressed" if silenced_by else "active",
                    "silencedBy": silenced_by,
                    "inhibitedBy": [],
                },
            }
        )
    return web.json_response(out)


# -- silences -------------------------------------------------------------------------------


class MatcherBody(_Lenient):
    name: StrictStr
    value: StrictStr
    isRegex: StrictBool
    isEqual: StrictBool = True


class PostableSilence(_Lenient):
    id: StrictStr | None = None
    matchers: list[MatcherBody] = Field(min_length=1)
    startsAt: StrictStr
    endsAt: StrictStr
    createdBy: StrictStr
    comment: StrictStr


def _silence_from(body: PostableSilence, silence_id: str, now: float) -> Silence:
    try:
        matchers = tuple(Matcher(m.name, m.value, m.isRegex, m.isEqual) for m in body.matchers)
        for matcher in matchers:
            check_labels({matcher.name: ""}, "matchers")
        starts = parse_time(body.startsAt, "startsAt")
        ends = parse_time(body.endsAt, "endsAt")
        if starts is None or ends is None:
            raise ValueError("startsAt and endsAt are required")
        return Silence.create(silence_id, matchers, starts, ends, body.createdBy, body.comment, now)
    except ValueError as exc:
        raise Rejected(400, "invalid_silence", str(exc)) from None


async def post_silence(request: web.Request) -> web.Response:
    ctx = context(request)
    body = await parse_body(request, PostableSilence)
    now = ctx.clock()
    silence_id = body.id or str(uuid.uuid4())
    if body.id and ctx.store.silence(body.id) is None:
        raise Rejected(404, "not_found", f"silence {body.id} not found")
    silence = _silence_from(body, silence_id, now)
    with ctx.store.transaction():
        ctx.store.save_silence(silence)
        ctx.pipeline.desk.note_silence(silence, "set", silence.created_by, now)
    return web.json_response({"silenceID": silence_id})


def silence_json(silence: Silence, now: float) -> dict:
    return {
        "id": silence.id,
        "status": {"state": silence.state(now)},
        "updatedAt": format_time(silence.updated_at),
        "matchers": [
            {"name": m.name, "value": m.value, "isRegex": m.is_regex, "isEqual": m.is_equal}
            for m in silence.matchers
        ],
        "startsAt": format_time(silence.starts_at),
        "endsAt": format_time(silence.ends_at),
        "createdBy": silence.created_by,
        "comment": silence.comment,
    }


async def get_silences(request: web.Request) -> web.Response:
    ctx = context(request)
    now = ctx.clock()
    wanted = _matchers_from_query(request)
    out = []
    for silence in ctx.store.silences():
        names = {(m.name, m.value, m.is_regex, m.is_equal) for m in silence.matchers}
        if all((m.name, m.value, m.is_regex, m.is_equal) in names for m in wanted):
            out.append(silence_json(silence, now))
    return web.json_response(out)


def _silence_or_404(request: web.Request) -> Silence:
    silence = context(request).store.silence(request.match_info["id"])
    if silence is None:
        raise Rejected(404, "not_found", f"silence {request.match_info['id']} not found")
    return silence


async def get_silence(request: web.Request) -> web.Response:
    return web.json_response(silence_json(_silence_or_404(request), context(request).clock()))


async def delete_silence(request: web.Request) -> web.Response:
    ctx = context(request)
    silence = _silence_or_404(request)
    now = ctx.clock()
    if silence.state(now) != "expired":
        with ctx.store.transaction():
            ctx.store.save_silence(silence.expire(now))
            ctx.pipeline.desk.note_silence(silence, "expired", "api", now)
    return web.Response(status=200)


# -- status ---------------------------------------------------------------------------------


async def get_status(request: web.Request) -> web.Response:
    ctx = context(request)
    return web.json_response(
        {
            "cluster": {"name": "", "status": "disabled", "peers": []},
            "versionInfo": {
                "version": __version__,
                "revision": "",
                "branch": "",
                "buildUser": "sentinel",
                "buildDate": "",
                "goVersion": f"python{platform.python_version()}",
            },
            "config": {"original": ctx.config_summary},
            "uptime": format_time(ctx.started_at),
        }
    )


async def get_receivers(_: web.Request) -> web.Response:
    return web.json_response([{"name": RECEIVER}])


# -- webhook receiver (an Alertmanager forwarding to sentinel) -------------------------------


class WebhookAlert(msgspec.Struct):
    status: Literal["firing", "resolved"]
    labels: dict[str, str]
    startsAt: str
    annotations: dict[str, str] = {}
    endsAt: str = ""
    generatorURL: str = ""
    fingerprint: str = ""


class WebhookPayload(msgspec.Struct):
    version: Literal["4"]
    groupKey: str
    status: Literal["firing", "resolved"]
    receiver: str
    alerts: list[WebhookAlert]
    truncatedAlerts: Annotated[int, msgspec.Meta(ge=0)] = 0
    groupLabels: dict[str, str] = {}
    commonLabels: dict[str, str] = {}
    commonAnnotations: dict[str, str] = {}
    externalURL: str = ""


WEBHOOK_PAYLOAD = msgspec.json.Decoder(WebhookPayload)


async def post_webhook(request: web.Request) -> web.Response:
    """Alertmanager sends resolved notifications itself, so forwarded alerts never expire."""
    ctx = context(request)
    body = await decode_body(request, WEBHOOK_PAYLOAD)
    now = ctx.clock()
    alerts = _convert(body.alerts, now, None, "alertmanager-webhook")
    await ctx.intake.submit(alerts)
    return web.json_response({"status": "success", "alerts": len(alerts)})


def routes() -> list[web.RouteDef]:
    return [
        web.post("/api/v2/alerts", post_alerts),
        web.get("/api/v2/alerts", get_alerts),
        web.get("/api/v2/silences", get_silences),
        web.post("/api/v2/silences", post_silence),
        web.get("/api/v2/silence/{id}", get_silence),
        web.delete("/api/v2/silence/{id}", delete_silence),
        web.get("/api/v2/status", get_status),
        web.get("/api/v2/receivers", get_receivers),
        web.post("/api/v1/webhook/alertmanager", post_webhook),
    ]
