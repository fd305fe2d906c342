"""The daemon's HTTP face: health, its own Prometheus metrics, and the desk read API."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from sentinel.metrics import Metrics
from sentinel.store import Store

MAX_PAGE = 500


def _jsonable(value: Any) -> Any:
    return dataclasses.asdict(value) if dataclasses.is_dataclass(value) else value


def _reject(metrics: Metrics, status: int, reason: str, detail: str) -> web.Response:
    metrics.rejected_requests.labels(reason).inc()
    return web.json_response({"error": detail}, status=status)


def build_app(
    store: Store, metrics: Metrics, health: Callable[[], dict[str, Any]]
) -> web.Application:
    async def healthz(_: web.Request) -> web.Response:
        return web.json_response(health())

    async def metrics_page(_: web.Request) -> web.Response:
        body = generate_latest(metrics.registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def incidents(request: web.Request) -> web.Response:
        query = request.query
        try:
            limit = min(int(query.get("limit", "100")), MAX_PAGE)
            offset = int(query.get("offset", "0"))
            if limit < 1 or offset < 0:
                raise ValueError
        except ValueError:
            return _reject(metrics, 400, "bad_query", "limit and offset must be whole numbers")
        rows = store.incidents(
            statuses=query.getall("status", []),
            priorities=query.getall("priority", []),
            limit=offset + limit,
        )[offset:]
        return web.json_response(
            {"incidents": [_jsonable(i) for i in rows], "offset": offset, "limit": limit}
        )

    async def incident(request: web.Request) -> web.Response:
        try:
            incident_id = int(request.match_info["id"])
        except ValueError:
            return _reject(metrics, 400, "bad_id", "incident id must be a whole number")
        found = store.incident(incident_id)
        if found is None:
            return _reject(metrics, 404, "not_found", f"no incident {incident_id}")
        return web.json_response(
            {
                "incident": _jsonable(found),
                "ticket": _jsonable(store.ticket(incident_id)),
                "alerts": [_jsonable(a) for a in store.incident_alerts(incident_id)],
                "timeline": [_jsonable(e) for e in store.timeline(incident_id)],
            }
        )

    app = web.Application(client_max_size=1 << 20)
    app.add_routes(
        [
            web.get("/healthz", healthz),
            web.get("/metrics", metrics_page),
            web.get("/api/v1/incidents", incidents),
            web.get("/api/v1/incidents/{id}", incident),
        ]
    )
    return app
