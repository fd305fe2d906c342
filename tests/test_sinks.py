"""External desks and pagers through the outbox, each against a local server that checks
requests against the vendor's documented API."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import urllib.request

import msgspec
import pytest

from sentinel.api.alertmanager import WebhookPayload
from sentinel.model import Alert, AlertStatus, Placement
from sentinel.silences import Matcher, Silence
from sentinel.store import Store
from sentinel.tickets import Desk, DeskSettings, Outbox, external_desks
from sentinel.tickets.external import ExternalConfig
from tests.helpers import processes
from tests.helpers.vendors import (
    Glpi,
    JiraServiceManagement,
    PagerDuty,
    Receiver,
    ServiceNow,
    Zammad,
)

ROUTING_KEY = "R0UT1NGKEY0123456789abcdefABCDEF"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def desk_with(tmp_path, *configs: dict) -> tuple[Desk, Outbox, Clock]:
    store = Store(tmp_path / "sentinel.db")
    external = [external_desks.get(c["kind"]).Config(**c) for c in configs]
    clock = Clock()
    deliverers = {c.name: external_desks.get(c.kind)(c, store) for c in external}
    return Desk(store, DeskSettings(external=external)), Outbox(store, deliverers, clock), clock


def pagerduty_desk(tmp_path, pagerduty: PagerDuty, **settings) -> tuple[Desk, Outbox, Clock]:
    """A desk whose one sink is PagerDuty Events v2, sent to the local ``pagerduty``."""
    config = {"name": "pd", "kind": "pagerduty", "routing_key": ROUTING_KEY, **settings}
    return desk_with(tmp_path, {**config, "url": f"{pagerduty.base}/v2/enqueue"})


def fire(service: str = "db", summary: str = "db is down", at: float = 1000.0) -> Alert:
    labels = {"alertname": "DbDown", "severity": "critical", "service": service}
    return Alert(labels, {"summary": summary}, AlertStatus.FIRING, at)


def lifecycle(desk: Desk, outbox: Outbox, clock: Clock, alert: Alert | None = None) -> int:
    """Open, acknowledge and resolve an incident a minute apart, delivering after each."""
    incident = desk.open_incident(alert or fire(), ("db",), [1], (), "default", now=clock.now)
    asyncio.run(outbox.flush())
    clock.now += 60
    desk.acknowledge(incident.id, "alice", now=clock.now)
    asyncio.run(outbox.flush())
    clock.now += 60
    desk.resolve(incident.id, "alice", now=clock.now, reason="failed over")
    asyncio.run(outbox.flush())
    return incident.id


def lifecycle_received(tmp_path, kind: str, **settings: str) -> Receiver:
    """The lifecycle sent by a ``kind`` sink to a local receiver, which keeps what came."""
    with Receiver() as receiver:
        config = {"name": kind, "kind": kind, "url": f"{receiver.base}/{kind}", **settings}
        lifecycle(*desk_with(tmp_path, config))
    return receiver


def test_pagerduty_triggers_acknowledges_and_resolves_one_alert(tmp_path):
    with PagerDuty() as pagerduty:
        desk, outbox, clock = pagerduty_desk(tmp_path, pagerduty)
        incident_id = lifecycle(desk, outbox, clock)
    assert pagerduty.refused == []
    events = [r["body"] for r in pagerduty.requests]
    assert [e["event_action"] for e in events] == ["trigger", "acknowledge", "resolve"]
    assert {e["dedup_key"] for e in events} == {f"sentinel-incident-{incident_id}"}
    assert events[0]["payload"]["severity"] == "critical"
    assert events[0]["payload"]["summary"].startswith("[P1] OPENED")


def test_pagerduty_limits_are_respected_instead_of_failing(tmp_path):
    with PagerDuty() as pagerduty:
        desk, outbox, clock = pagerduty_desk(tmp_path, pagerduty, events=["opened"])
        huge = fire(summary="x" * 5000)
        incident = desk.open_incident(huge, ("db",), [1], (), "default", now=clock.now)
        for n in range(400):  # ~700 KB of alerts in the incident
            desk.attach(
                incident,
                [
                    Placement(
                        Alert(
                            {"alertname": f"A{n}", "service": "db"},
                            {"summary": "y" * 1800},
                            AlertStatus.FIRING,
                            1000,
                        )
                    )
                ],
                ("db",),
                [1],
                (),
                now=clock.now,
            )
        desk.open_incident(fire("api", "z" * 5000), ("api",), [1], (), "default", now=clock.now)
        asyncio.run(outbox.flush())
    assert pagerduty.refused == []
    summaries = [r["body"]["payload"]["summary"] for r in pagerduty.requests]
    assert len(summaries) == 2 and all(len(s) == 1024 and s.endswith("…") for s in summaries)


def test_pagerduty_holds_while_silenced_like_any_page(tmp_path):
    with PagerDuty() as pagerduty:
        desk, outbox, clock = pagerduty_desk(tmp_path, pagerduty)
        silence = Silence.create("s1", (Matcher("service", "db"),), 0, 1e10, "bob", "upgrade", 0)
        with desk.store.transaction():
            desk.store.save_silence(silence)
        desk.open_incident(fire(), ("db",), [1], (), "default", now=clock.now)
        asyncio.run(outbox.flush())
    assert pagerduty.requests == []


def test_webhook_is_signed_and_carries_the_idempotency_key(tmp_path):
    receiver = lifecycle_received(tmp_path, "webhook", secret="hush")
    assert [json.loads(raw)["event"] for _, raw in receiver.headers_seen] == [
        "opened",
        "acknowledged",
        "resolved",
    ]
    for headers, raw in receiver.headers_seen:
        expected = "sha256=" + hmac.new(b"hush", raw, hashlib.sha256).hexdigest()
        assert headers["X-Sentinel-Signature"] == expected
        assert headers["Idempotency-Key"].startswith("incident:")
    assert "hush" not in str(receiver.headers_seen)


def test_alertmanager_webhook_out_is_alertmanagers_format(tmp_path):
    receiver = lifecycle_received(tmp_path, "alertmanager", bearer_token="tok")
    bodies = [json.loads(raw) for _, raw in receiver.headers_seen]
    for body in bodies:
        msgspec.convert(body, WebhookPayload)  # the schema a real Alertmanager's posts pass
    assert [b["status"] for b in bodies] == ["firing", "firing", "resolved"]
    assert bodies[0]["alerts"][0]["labels"]["alertname"] == "DbDown"
    assert bodies[-1]["alerts"][0]["endsAt"] != "0001-01-01T00:00:00Z"
    assert all(h["Authorization"] == "Bearer tok" for h, _ in receiver.headers_seen)


def servicenow_config(server: ServiceNow) -> dict:
    return {
        "name": "snow",
        "kind": "servicenow",
        "url": server.base,
        "user": "sentinel",
        "password": "s3cret",
    }


def test_servicenow_incident_is_created_worked_and_resolved(tmp_path):
    with ServiceNow() as snow:
        desk, outbox, clock = desk_with(tmp_path, servicenow_config(snow))
        incident_id = lifecycle(desk, outbox, clock)
    assert snow.refused == []
    [record] = snow.records.values()
    assert record["correlation_id"] == f"sentinel-{incident_id}"
    assert (record["impact"], record["urgency"]) == ("1", "1")
    assert record["state"] == "6" and record["close_code"] == "Solved (Permanently)"
    assert any("ACKNOWLEDGED by alice" in note for note in record["work_notes_list"])
    assert desk.store.external_ref("snow", incident_id) == record["sys_id"]


def test_a_work_note_reaches_the_desks_records_and_pages_no_one(tmp_path):
    jira_config = {
        "name": "jira",
        "kind": "jira",
        "user": "bot@example.org",
        "api_token": "tok",
        "service_desk_id": "10",
        "request_type_id": "25",
        "resolve_transition_id": "761",
    }
    with (
        ServiceNow() as snow,
        JiraServiceManagement("bot@example.org", "tok") as jira,
        PagerDuty() as pagerduty,
    ):
        desk, outbox, clock = desk_with(
            tmp_path,
            servicenow_config(snow),
            {**jira_config, "url": jira.base},
            {
                "name": "pd",
                "kind": "pagerduty",
                "routing_key": ROUTING_KEY,
                "url": f"{pagerduty.base}/v2/enqueue",
            },
        )
        incident = desk.open_incident(fire(), ("db",), [1], (), "default", now=clock.now)
        asyncio.run(outbox.flush())
        clock.now += 60
        desk.note(incident.id, "  failover to db-2 started  ", "alice", now=clock.now)
        asyncio.run(outbox.flush())
    assert snow.refused == jira.refused == pagerduty.refused == []
    [record] = snow.records.values()
    [note] = record["work_notes_list"]
    assert (
        note.startswith(f"[P1] NOTE by alice #{incident.id}") and "failover to db-2 started" in note
    )
    [(_, issue)] = jira.records.items()
    [comment] = issue["comments"]
    assert "failover to db-2 started" in comment["body"] and comment["public"] is False
    assert [r["body"]["event_action"] for r in pagerduty.requests] == ["trigger"]
    [entry] = [e for e in desk.store.timeline(incident.id) if e.kind == "note"]
    assert (entry.text, entry.actor) == ("failover to db-2 started", "alice")


def test_a_pager_is_not_configured_for_work_notes(tmp_path):
    from sentinel.config import ConfigError, load_config
    from tests.conftest import write_rules

    pager = {"name": "pd", "kind": "pagerduty", "routing_key": ROUTING_KEY, "events": ["note"]}
    rules = write_rules(tmp_path / "rules", sinks=[pager])
    with pytest.raises(ConfigError) as refused:
        load_config([rules])
    message = str(refused.value)
    assert "sentinel.yaml:" in message and "sinks[0].events[0]: Input should be" in message


def test_servicenow_create_repeated_after_a_crash_finds_the_first(tmp_path):
    with ServiceNow() as snow:
        desk, outbox, clock = desk_with(tmp_path, servicenow_config(snow))
        incident = desk.open_incident(fire(), ("db",), [1], (), "default", now=clock.now)
        asyncio.run(outbox.flush())
        # The crash: the record was created but neither the reference nor "sent" was kept.
        with desk.store.transaction():
            desk.store._exec("DELETE FROM external_refs")
            desk.store._exec("UPDATE outbox SET status = 'pending'")
        asyncio.run(outbox.flush())
        assert len(snow.records) == 1
        assert desk.store.external_ref("snow", incident.id) == next(iter(snow.records))


@pytest.mark.parametrize("failure", [503, 429, "garbage"])
def test_outage_delays_in_order_and_loses_nothing(tmp_path, failure):
    with ServiceNow() as snow:
        desk, outbox, clock = desk_with(tmp_path, servicenow_config(snow))
        snow.outage = [failure, failure]
        incident = desk.open_incident(fire(), ("db",), [1], (), "default", now=clock.now)
        desk.acknowledge(incident.id, "alice", now=clock.now)
        for _ in range(6):
            asyncio.run(outbox.flush())
            clock.now += 600  # past any backoff
        rows = desk.store.outbox(incident.id)
    assert [r.status for r in rows] == ["sent", "sent"]
    assert rows[0].attempts == 3  # two failures, then the delivery
    assert [r["method"] for r in snow.requests] == ["GET", "POST", "PATCH"]  # in order, once


def test_a_refusal_is_a_dead_letter_not_a_retry(tmp_path):
    with ServiceNow(password="other") as snow:  # wrong credentials: 401
        desk, outbox, clock = desk_with(tmp_path, servicenow_config(snow))
        desk.open_incident(fire(), ("db",), [1], (), "default", now=clock.now)
        asyncio.run(outbox.flush())
    [row] = desk.store.outbox()
    assert row.status == "dead" and "HTTP 401" in (row.last_error or "")
    assert "s3cret" not in (row.last_error or "")


def test_sinks_are_configured_and_checked_like_everything_else(tmp_path):
    from sentinel.config import load_config
    from tests.conftest import write_rules

    rules = write_rules(
        tmp_path / "rules",
        sinks=[
            {"name": "pd", "kind": "pagerduty", "routing_key": ROUTING_KEY},
            {
                "name": "snow",
                "kind": "servicenow",
                "url": "http://127.0.0.1:9",
                "user": "u",
                "password": "p",
                "events": ["opened", "resolved"],
            },
        ],
    )
    external = load_config([rules]).desk.external
    assert [(c.name, c.kind) for c in external] == [("pd", "pagerduty"), ("snow", "servicenow")]
    assert isinstance(external[0], ExternalConfig) and external[0].hold_when_silenced


def test_jira_service_management_request_is_raised_commented_and_resolved(tmp_path):
    with JiraServiceManagement("bot@example.org", "tok") as jira:
        config = {
            "name": "jira",
            "kind": "jira",
            "url": jira.base,
            "user": "bot@example.org",
            "api_token": "tok",
            "service_desk_id": "10",
            "request_type_id": "25",
            "resolve_transition_id": "761",
        }
        desk, outbox, clock = desk_with(tmp_path, config)
        incident_id = lifecycle(desk, outbox, clock)
    assert jira.refused == []
    [(key, record)] = jira.records.items()
    assert record["summary"].startswith("[P1] OPENED") and record["status"] == "Resolved"
    assert record["comments"][0]["public"] is False
    assert desk.store.external_ref("jira", incident_id) == key


def test_zammad_ticket_is_opened_noted_and_closed(tmp_path):
    with Zammad("tok") as zammad:
        config = {
            "name": "zammad",
            "kind": "zammad",
            "url": zammad.base,
            "token": "tok",
            "customer": "oncall@example.org",
        }
        desk, outbox, clock = desk_with(tmp_path, config)
        lifecycle(desk, outbox, clock)
    assert zammad.refused == []
    [ticket] = zammad.records.values()
    assert ticket["priority_id"] == 3 and ticket["state"] == "closed"
    assert len(ticket["articles"]) == 3 and all(a["internal"] for a in ticket["articles"])


def test_glpi_ticket_is_created_followed_up_and_solved_in_sessions(tmp_path):
    with Glpi("utok", app_token="atok") as glpi:
        config = {
            "name": "glpi",
            "kind": "glpi",
            "url": glpi.base,
            "user_token": "utok",
            "app_token": "atok",
        }
        desk, outbox, clock = desk_with(tmp_path, config)
        lifecycle(desk, outbox, clock)
    assert glpi.refused == []
    [ticket] = glpi.records.values()
    assert (ticket["urgency"], ticket["impact"], ticket["type"]) == (5, 5, 1)
    assert ticket["status"] == 5 and len(ticket["followups"]) == 2
    assert glpi.sessions == set()  # every session was closed


def test_request_tracker_5_ticket_through_rest2_on_a_real_rt(tmp_path):
    service, base = processes.request_tracker(tmp_path / "rt")
    with service:
        config = {
            "name": "rt",
            "kind": "rt",
            "url": base,
            "user": "root",
            "password": "password",
            "queue": "General",
        }
        desk, outbox, clock = desk_with(tmp_path, config)
        incident_id = lifecycle(desk, outbox, clock)
        ticket_id = desk.store.external_ref("rt", incident_id)
        assert [r.status for r in desk.store.outbox(incident_id)] == ["sent"] * 3
        ticket = rt_get(base, f"/ticket/{ticket_id}")
        history = rt_get(base, f"/ticket/{ticket_id}/history?per_page=100")
    assert ticket["Subject"].startswith("[P1] OPENED") and ticket["Status"] == "resolved"
    assert ticket["Priority"] == "90" and ticket["Queue"]["id"] == "1"
    assert history["total"] >= 5  # create, two comments, open, resolved


def rt_get(base: str, path: str) -> dict:
    request = urllib.request.Request(f"{base}/REST/2.0{path}")
    token = base64.b64encode(b"root:password").decode()
    request.add_header("Authorization", f"Basic {token}")
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)
