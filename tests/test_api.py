"""The daemon's HTTP face over a real socket: health, metrics, read API, counted 4xx."""

from __future__ import annotations

import asyncio

from aiohttp.test_utils import TestClient, TestServer

from sentinel.api import build_app
from sentinel.metrics import Metrics
from sentinel.model import Alert, AlertStatus
from sentinel.store import Store
from sentinel.tickets import Desk, DeskSettings


def run_against(store: Store, metrics: Metrics, requests):
    async def go():
        app = build_app(store, metrics, lambda: {"status": "ok"})
        async with TestClient(TestServer(app, host="127.0.0.1")) as client:
            return await requests(client)

    return asyncio.run(go())


def seeded(tmp_path) -> Store:
    store = Store(tmp_path / "s.db")
    desk = Desk(store, DeskSettings())
    for n, severity in enumerate(["info", "critical", "warning"]):
        fired = Alert({"alertname": f"A{n}", "severity": severity}, {}, AlertStatus.FIRING, n)
        desk.open_incident(fired, [f"svc{n}"], [2], (), "default", now=float(n))
    return store


def test_incidents_come_in_queue_order_and_paginate(tmp_path):
    store, metrics = seeded(tmp_path), Metrics()

    async def requests(client):
        everything = await (await client.get("/api/v1/incidents")).json()
        page = await (await client.get("/api/v1/incidents?limit=1&offset=1")).json()
        one = await (await client.get("/api/v1/incidents/2")).json()
        return everything, page, one

    everything, page, one = run_against(store, metrics, requests)
    assert [i["priority"] for i in everything["incidents"]] == ["P2", "P3", "P4"]
    assert [i["id"] for i in page["incidents"]] == [3]
    assert one["incident"]["id"] == 2 and one["ticket"]["sink"] == "desk"
    assert [e["kind"] for e in one["timeline"]][:2] == ["opened", "priority"]


def test_bad_requests_get_a_reason_and_are_counted(tmp_path):
    store, metrics = seeded(tmp_path), Metrics()

    async def requests(client):
        bad = await client.get("/api/v1/incidents?limit=lots")
        missing = await client.get("/api/v1/incidents/999")
        metrics_page = await (await client.get("/metrics")).text()
        return bad.status, await bad.json(), missing.status, metrics_page

    status, body, missing, page = run_against(store, metrics, requests)
    assert status == 400 and "whole numbers" in body["error"]
    assert missing == 404
    assert 'sentinel_api_rejected_requests_total{reason="bad_query"} 1.0' in page
    assert 'sentinel_api_rejected_requests_total{reason="not_found"} 1.0' in page
