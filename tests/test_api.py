"""The HTTP API over a real socket: desk reads, Alertmanager v2, webhook, PagerDuty events,
changes, and the guard (token, body limit, counted 4xx)."""

from __future__ import annotations

import asyncio

import pytest

from sentinel.model import Alert, AlertStatus
from tests.conftest import write_rules
from tests.helpers.api import AUTH, Clock, make_daemon, run_client

T0 = "2023-11-14T22:13:20Z"  # = Clock's default start


def am_alert(name: str = "DiskFull", **extra) -> dict:
    return {
        "labels": {"alertname": name, "service": "db", "severity": "critical"},
        "annotations": {"summary": f"{name} on db"},
        **extra,
    }


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def daemon(tmp_path, clock):
    rules = write_rules(
        tmp_path / "rules",
        services=[{"name": "db", "tier": 1}],
        server={"max_body": 4096},
        escalation_policies=[
            {"name": "default", "levels": [{"notify": ["json://127.0.0.1:9/oncall"]}]}
        ],
    )
    return make_daemon(tmp_path, rules, clock)


def test_incidents_come_in_queue_order_and_paginate(daemon):
    desk = daemon.desk
    for n, severity in enumerate(["info", "critical", "warning"]):
        fired = Alert({"alertname": f"A{n}", "severity": severity}, {}, AlertStatus.FIRING, n)
        desk.open_incident(fired, [f"svc{n}"], [2], (), "default", now=float(n))

    async def requests(client):
        everything = await (await client.get("/api/v1/incidents")).json()
        page = await (await client.get("/api/v1/incidents?limit=1&offset=1")).json()
        one = await (await client.get("/api/v1/incidents/2")).json()
        return everything, page, one

    everything, page, one = run_client(daemon, requests)
    assert [i["priority"] for i in everything["incidents"]] == ["P2", "P3", "P4"]
    assert [i["id"] for i in page["incidents"]] == [3]
    assert (page["offset"], page["limit"], page["total"]) == (1, 1, 3)
    assert one["incident"]["id"] == 2 and one["ticket"]["sink"] == "desk"
    assert [e["kind"] for e in one["timeline"]][:2] == ["opened", "priority"]
    assert one["timeline_total"] == len(one["timeline"]) == 3 and one["alerts_total"] == 1


def test_filters_take_known_values_only(daemon):
    desk = daemon.desk
    for n, severity in enumerate(["critical", "warning"]):
        fired = Alert({"alertname": f"A{n}", "severity": severity}, {}, AlertStatus.FIRING, n)
        desk.open_incident(fired, [f"svc{n}"], [2], (), "default", now=float(n))

    async def requests(client):
        answers = []
        for query in ("priority=P2", "priority=P2&priority=P3", "status=open", "priority=P9"):
            response = await client.get(f"/api/v1/incidents?{query}")
            answers.append((response.status, await response.json()))
        for query in ("status=opne", "status=known_error"):
            response = await client.get(f"/api/v1/problems?{query}")
            answers.append((response.status, await response.json()))
        return answers

    p2, both, opened, typo, problem_typo, known = run_client(daemon, requests)
    assert p2[0] == 200 and [i["priority"] for i in p2[1]["incidents"]] == ["P2"]
    assert both[1]["total"] == 2 and opened[1]["total"] == 2
    assert typo == (400, {"error": "unknown priority 'P9'; use P1, P2, P3, P4, P5"})
    assert problem_typo[0] == 400 and "use open, known_error, resolved" in problem_typo[1]["error"]
    assert known == (200, {"problems": [], "offset": 0, "limit": 100, "total": 0})


def test_a_storm_incident_pages_its_alerts_and_timeline(daemon, clock):
    alerts = [am_alert(f"Check{n}") for n in range(150)]  # one service: one incident

    async def requests(client):
        for at in range(0, 150, 15):  # within the body size limit
            posted = await client.post("/api/v2/alerts", json=alerts[at : at + 15], headers=AUTH)
            assert posted.status == 200
        one = await (await client.get("/api/v1/incidents/1")).json()
        pages = [
            await (await client.get(f"/api/v1/incidents/1/alerts?limit=100&offset={at}")).json()
            for at in (0, 100)
        ]
        timeline = await (await client.get("/api/v1/incidents/1/timeline?limit=2")).json()
        missing = await client.get("/api/v1/incidents/7/timeline")
        return one, pages, timeline, missing.status

    one, pages, timeline, missing = run_client(daemon, requests)
    assert len(one["alerts"]) == 100 and one["alerts_total"] == 150
    names = [a["labels"]["alertname"] for page in pages for a in page["alerts"]]
    assert sorted(names) == sorted(f"Check{n}" for n in range(150))
    assert [len(p["alerts"]) for p in pages] == [100, 50] and pages[1]["total"] == 150
    assert [e["kind"] for e in timeline["timeline"]] == ["opened", "priority"]
    assert timeline["total"] == one["timeline_total"] > 2
    assert missing == 404


def test_pushed_alert_opens_incident_refreshes_and_expires(daemon, clock):
    async def post(client, body):
        response = await client.post("/api/v2/alerts", json=body, headers=AUTH)
        return response.status

    assert run_client(daemon, lambda c: post(c, [am_alert()])) == 200
    [incident] = daemon.store.unresolved_incidents()
    assert incident.priority == "P1" and incident.services == ("db",)

    clock.now += 240  # re-sent before resolve_timeout (5 min): refreshed, no second incident
    assert run_client(daemon, lambda c: post(c, [am_alert()])) == 200
    daemon.pipeline.expire(clock.now + 299)
    assert len(daemon.store.unresolved_incidents()) == 1

    daemon.pipeline.expire(clock.now + 300)  # not re-sent any more: resolved
    assert daemon.store.unresolved_incidents() == []
    assert daemon.store.count("incidents") == 1


def test_alert_with_past_end_resolves_its_incident(daemon, clock):
    async def requests(client):
        await client.post("/api/v2/alerts", json=[am_alert()], headers=AUTH)
        await client.post("/api/v2/alerts", json=[am_alert(startsAt=T0, endsAt=T0)], headers=AUTH)
        return await (await client.get("/api/v2/alerts")).json()

    assert run_client(daemon, requests) == []
    assert daemon.store.unresolved_incidents() == []


def test_get_alerts_has_alertmanager_shape_and_filters(daemon):
    async def requests(client):
        await client.post(
            "/api/v2/alerts",
            headers=AUTH,
            json=[am_alert("A", generatorURL="http://prom/graph"), am_alert("B")],
        )
        everything = await (await client.get("/api/v2/alerts")).json()
        only_b = await (
            await client.get("/api/v2/alerts", params={"filter": 'alertname="B"'})
        ).json()
        return everything, only_b

    everything, only_b = run_client(daemon, requests)
    first = everything[0]
    assert set(first) == {
        "labels",
        "annotations",
        "startsAt",
        "endsAt",
        "updatedAt",
        "generatorURL",
        "fingerprint",
        "receivers",
        "status",
    }
    assert first["status"] == {"state": "active", "silencedBy": [], "inhibitedBy": []}
    assert first["generatorURL"] == "http://prom/graph"
    assert [a["labels"]["alertname"] for a in only_b] == ["B"]


def test_silence_suppresses_pages_and_expires(daemon, clock):
    silence = {
        "matchers": [{"name": "service", "value": "db", "isRegex": False}],
        "startsAt": T0,
        "endsAt": "2023-11-15T22:13:20Z",
        "createdBy": "alice",
        "comment": "maintenance",
    }

    async def requests(client):
        created = await (await client.post("/api/v2/silences", json=silence, headers=AUTH)).json()
        sid = created["silenceID"]
        listed = await (await client.get("/api/v2/silences")).json()
        await client.post("/api/v2/alerts", json=[am_alert()], headers=AUTH)
        alerts = await (await client.get("/api/v2/alerts")).json()
        hidden = await (await client.get("/api/v2/alerts?silenced=false")).json()
        expired = await client.delete(f"/api/v2/silence/{sid}", headers=AUTH)
        after = await (await client.get(f"/api/v2/silence/{sid}")).json()
        return sid, listed, alerts, hidden, expired.status, after

    sid, listed, alerts, hidden, expired, after = run_client(daemon, requests)
    assert listed[0]["id"] == sid and listed[0]["status"] == {"state": "active"}
    assert alerts[0]["status"] == {"state": "suppressed", "silencedBy": [sid], "inhibitedBy": []}
    assert hidden == []
    assert expired == 200 and after["status"] == {"state": "expired"}
    [incident] = daemon.store.unresolved_incidents()
    notes = [e.text for e in daemon.store.timeline(incident.id) if e.kind == "notification"]
    assert notes == [f"opened: suppressed, silenced by {sid}"]


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ([{"labels": {}}], "at least one label pair required"),
        ([{"labels": {"bad-name": "x"}}], "invalid label name 'bad-name'"),
        ([{"labels": {"a": 1}}], "Expected `str`, got `int` - at `$[1].labels[...]`"),
        ([{"labels": {"a": "b"}, "startsAt": "yesterday"}], "is not an RFC 3339 time"),
        (
            [
                {
                    "labels": {"a": "b"},
                    "startsAt": "2024-01-02T00:00:00Z",
                    "endsAt": "2024-01-01T00:00:00Z",
                }
            ],
            "start time must be before end time",
        ),
        ({"labels": {"a": "b"}}, "Expected `array`, got `object`"),
    ],
)
def test_invalid_alerts_are_refused_whole_with_a_reason(daemon, body, reason):
    async def requests(client):
        batch = [am_alert("Valid"), *body] if isinstance(body, list) else body
        response = await client.post("/api/v2/alerts", json=batch, headers=AUTH)
        return response.status, await response.json()

    status, detail = run_client(daemon, requests)
    assert status == 400 and reason in detail
    assert daemon.store.count("alerts") == 0  # the valid one was not stored either


def test_guard_refuses_and_counts(daemon):
    async def requests(client):
        statuses = [
            (await client.post("/api/v2/alerts", json=[am_alert()])).status,
            (
                await client.post(
                    "/api/v2/alerts", json=[am_alert()], headers={"Authorization": "Bearer wrong"}
                )
            ).status,
            (await client.post("/api/v2/alerts", data=b"[{", headers=AUTH)).status,
            (await client.post("/api/v2/alerts", data=b"x" * 5000, headers=AUTH)).status,
            (await client.get("/api/v1/nothing-here")).status,
            (await client.get("/api/v1/incidents?limit=lots")).status,
            (await client.get(f"/api/v1/incidents/{2**63}")).status,
            (await client.get("/api/v1/incidents/x")).status,
        ]
        page = await (await client.get("/metrics")).text()
        return statuses, page

    statuses, page = run_client(daemon, requests)
    assert statuses == [401, 401, 400, 413, 404, 400, 404, 400]
    for reason, count in [
        ("unauthorized", 2),
        ("invalid_json", 1),
        ("too_large", 1),
        ("not_found", 2),
        ("bad_query", 1),
        ("bad_id", 1),
    ]:
        assert f'sentinel_api_rejected_requests_total{{reason="{reason}"}} {count}.0' in page
    assert daemon.store.count("alerts") == 0


def test_a_request_that_outlasts_the_timeout_is_refused_and_stores_nothing(tmp_path, clock):
    rules = write_rules(tmp_path / "rules", server={"request_timeout": "200ms"})
    daemon = make_daemon(tmp_path, rules, clock)
    answered = asyncio.Event()

    async def stalled_body():
        yield b'[{"labels": {"alertname": "Slow"}'
        await answered.wait()  # the rest never comes before the server gives up

    async def requests(client):
        response = await client.post("/api/v2/alerts", data=stalled_body(), headers=AUTH)
        answered.set()
        page = await (await client.get("/metrics")).text()
        return response.status, await response.json(), page

    status, detail, page = run_client(daemon, requests)
    assert status == 408 and "longer than 0.2s" in detail
    assert 'sentinel_api_rejected_requests_total{reason="timeout"} 1.0' in page
    assert daemon.store.count("alerts") == 0


def test_alertmanager_webhook_forwards_firing_and_resolved(daemon):
    def payload(status: str) -> dict:
        alert = {
            "status": status,
            "labels": {"alertname": "Down", "service": "db"},
            "annotations": {},
            "startsAt": T0,
            "endsAt": T0 if status == "resolved" else "0001-01-01T00:00:00Z",
            "generatorURL": "",
            "fingerprint": "abc",
        }
        return {
            "version": "4",
            "groupKey": "{}:{}",
            "truncatedAlerts": 0,
            "status": status,
            "receiver": "sentinel",
            "groupLabels": {},
            "commonLabels": {},
            "commonAnnotations": {},
            "externalURL": "http://am",
            "alerts": [alert],
        }

    async def requests(client):
        first = await client.post(
            "/api/v1/webhook/alertmanager", json=payload("firing"), headers=AUTH
        )
        open_now = len(daemon.store.unresolved_incidents())
        daemon.pipeline.expire(daemon.clock() + 10**6)  # forwarded alerts never expire
        still = len(daemon.store.unresolved_incidents())
        await client.post("/api/v1/webhook/alertmanager", json=payload("resolved"), headers=AUTH)
        bad = await client.post("/api/v1/webhook/alertmanager", json={"version": "3"}, headers=AUTH)
        return first.status, open_now, still, bad.status

    assert run_client(daemon, requests) == (200, 1, 1, 400)
    assert daemon.store.unresolved_incidents() == []


def test_pagerduty_events_trigger_acknowledge_resolve(daemon):
    def event(action: str, **extra) -> dict:
        return {"routing_key": "test-token-1234", "event_action": action, **extra}

    trigger = event(
        "trigger",
        dedup_key="db-1",
        payload={
            "summary": "db-1 is down",
            "source": "db-1",
            "severity": "error",
            "component": "db",
        },
    )

    async def requests(client):
        created = await client.post("/v2/enqueue", json=trigger)
        body = await created.json()
        await client.post("/v2/enqueue", json=event("acknowledge", dedup_key="db-1"))
        acked = daemon.store.unresolved_incidents()[0].status
        await client.post("/v2/enqueue", json=event("resolve", dedup_key="db-1"))
        wrong_key = await client.post("/v2/enqueue", json={**trigger, "routing_key": "nope"})
        invalid = await client.post("/v2/enqueue", json=event("trigger"))
        return created.status, body, acked, wrong_key.status, invalid.status, await invalid.json()

    status, body, acked, wrong_key, invalid, detail = run_client(daemon, requests)
    assert status == 202 and body == {
        "status": "success",
        "message": "Event processed",
        "dedup_key": "db-1",
    }
    assert acked == "acknowledged"
    assert daemon.store.unresolved_incidents() == []
    assert wrong_key == 401
    assert invalid == 400 and detail["errors"] == ["body: payload is required for trigger events"]


def test_changes_are_recorded_and_listed(daemon):
    async def requests(client):
        made = await client.post(
            "/api/v1/changes",
            headers=AUTH,
            json={
                "service": "db",
                "kind": "deploy",
                "summary": "v1.4.2",
                "version": "1.4.2",
                "at": T0,
            },
        )
        bad = await client.post("/api/v1/changes", headers=AUTH, json={"service": "db"})
        listed = await (await client.get("/api/v1/changes?service=db")).json()
        return made.status, bad.status, listed

    made, bad, listed = run_client(daemon, requests)
    assert (made, bad) == (201, 400)
    assert [(c["service"], c["summary"], c["at"]) for c in listed["changes"]] == [
        ("db", "v1.4.2", "2023-11-14T22:13:20.000Z")
    ]


def test_status_has_alertmanager_shape(daemon):
    async def requests(client):
        return await (await client.get("/api/v2/status")).json()

    status = run_client(daemon, requests)
    assert set(status) == {"cluster", "versionInfo", "config", "uptime"}
    assert status["cluster"]["status"] == "disabled"


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/v2/alerts", '[{"labels": {"alertname": "A"}, "annotations": {"summary": "%s"}}]'),
        (
            "/api/v1/webhook/alertmanager",
            '{"version": "4", "groupKey": "g", "status": "firing", "receiver": "r", "alerts": '
            '[{"status": "firing", "labels": {"alertname": "%s"}, "startsAt": "' + T0 + '"}]}',
        ),
        (
            "/v2/enqueue",
            '{"routing_key": "r", "event_action": "trigger", "dedup_key": "k", '
            '"payload": {"summary": "%s", "source": "db", "severity": "critical"}}',
        ),
        ("/api/v1/changes", '{"service": "db", "kind": "deploy", "summary": "%s"}'),
    ],
)
def test_text_utf8_cannot_hold_is_refused_where_it_is_sent(daemon, path, body):
    """JSON can escape a lone surrogate; the store's UTF-8 text cannot hold one."""

    async def requests(client):
        data = (body % "disk \\ud800 full").encode()
        headers = {**AUTH, "Content-Type": "application/json"}
        return (await client.post(path, data=data, headers=headers)).status

    assert run_client(daemon, requests) == 400
    assert daemon.store.count("alerts") == daemon.store.count("changes") == 0


def test_work_notes_are_posted_like_pagerdutys_and_refused_with_reasons(daemon, clock):
    daemon.pipeline.alerts(
        [Alert(am_alert()["labels"], {}, AlertStatus.FIRING, clock.now)], clock.now
    )
    [incident] = daemon.store.unresolved_incidents()
    path = f"/api/v1/incidents/{incident.id}/notes"

    async def requests(client):
        async def post(url, body, headers=AUTH):
            response = await client.post(url, json=body, headers=headers)
            return response.status, await response.json()

        answers = [
            await post(path, {"content": "  failing over to db-2 ", "by": "chatbot"}),
            await post(path, {"content": "   "}),
            await post(path, {"content": "x", "author": "me"}),
            await post(path, {"content": "x"}, headers={}),
            await post("/api/v1/incidents/99/notes", {"content": "x"}),
        ]
        daemon.desk.resolve(incident.id, "alice", clock.now)
        daemon.desk.close(incident.id, "alice", clock.now)
        answers.append(await post(path, {"content": "too late"}))
        page = await (await client.get("/metrics")).text()
        return answers, page

    answers, page = run_client(daemon, requests)
    assert [status for status, _ in answers] == [201, 400, 400, 401, 404, 409]
    assert answers[0][1]["content"] == "failing over to db-2" and answers[0][1]["by"] == "chatbot"
    assert "content" in answers[1][1]["error"] and "author" in answers[2][1]["error"]
    assert answers[5][1]["error"] == f"incident {incident.id} is closed"
    assert 'sentinel_api_rejected_requests_total{reason="conflict"} 1.0' in page
    notes = [(e.text, e.actor) for e in daemon.store.timeline(incident.id) if e.kind == "note"]
    assert notes == [("failing over to db-2", "chatbot")]
