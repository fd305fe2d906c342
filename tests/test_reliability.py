"""The desk's promise under stress: a SIGKILL in the middle of a 10,000-alert burst loses no
incident, ticket or notification and repeats at most the delivery caught in flight; an
outage of a sink and a notification target delays deliveries without dropping, reordering
or repeating them."""

from __future__ import annotations

import asyncio
import json
import signal
import urllib.request
from collections import Counter

from sentinel.model import Alert, AlertStatus
from sentinel.store import Store
from sentinel.tickets import Desk, DeskSettings, EscalationPolicyConfig, LevelConfig, Outbox
from sentinel.tickets.desks.pagerduty import PagerDutyConfig, PagerDutyDesk
from sentinel.tickets.notify import AppriseSink
from tests.conftest import write_rules
from tests.helpers.daemon import DaemonProcess, free_port
from tests.helpers.servers import WebhookReceiver
from tests.helpers.vendors import PagerDuty
from tests.helpers.wait import wait_until

SERVICES, ALERTS, BATCH = 100, 10_000, 200
TOKEN = "reliability-token"
ROUTING_KEY = "R0UT1NGKEY0123456789abcdefABCDEF"
ESCALATE_AFTER = 1800.0


def burst() -> list[list[dict]]:
    """10,000 distinct alerts over 100 services, in the batches a sender would post."""
    alerts = [
        {
            "labels": {
                "alertname": f"Check{n % 7}",
                "service": f"svc-{n % SERVICES}",
                "instance": f"host-{n}",
                "severity": "critical",
            },
            "annotations": {"summary": f"check {n} failing"},
            "endsAt": "2999-01-01T00:00:00Z",
        }
        for n in range(ALERTS)
    ]
    return [alerts[i : i + BATCH] for i in range(0, ALERTS, BATCH)]


def post(daemon: DaemonProcess, batch: list[dict]) -> None:
    request = urllib.request.Request(
        f"http://127.0.0.1:{daemon.port}/api/v2/alerts",
        data=json.dumps(batch).encode(),
        headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status == 200


def test_sigkill_in_a_10000_alert_burst(tmp_path):
    with WebhookReceiver() as receiver, PagerDuty() as pagerduty:
        rules = write_rules(
            tmp_path / "rules",
            server={"tick": "100ms", "token": TOKEN},
            services=[{"name": f"svc-{i}", "tier": 1} for i in range(SERVICES)],
            escalation_policies=[
                {
                    "name": "default",
                    "levels": [
                        {"notify": [receiver.url("page")], "escalate_after": "30m"},
                        {"notify": [receiver.url("lead")]},
                    ],
                }
            ],
            sinks=[
                {
                    "name": "pd",
                    "kind": "pagerduty",
                    "routing_key": ROUTING_KEY,
                    "url": f"{pagerduty.base}/v2/enqueue",
                }
            ],
        )
        state = tmp_path / "state"
        batches = burst()
        daemon = DaemonProcess(rules, state).start()
        try:
            for batch in batches[: len(batches) // 2]:
                post(daemon, batch)
            # Killed while the first pages are still going out.
            assert daemon.stop(signal.SIGKILL) == -signal.SIGKILL
            daemon = DaemonProcess(rules, state, port=daemon.port).start()
            for batch in batches:  # the sender re-sends everything, as Prometheus does
                post(daemon, batch)
            store = Store(state / "sentinel.db")
            wait_until(
                lambda: store.count("incidents") == SERVICES and store.pending_count() == 0,
                timeout=120,
                what="every incident and delivery",
            )
        finally:
            daemon.stop(signal.SIGKILL)

    incidents = store.incidents(limit=1000)
    assert len(incidents) == SERVICES
    assert sorted(i.services[0] for i in incidents) == sorted(f"svc-{i}" for i in range(SERVICES))
    assert store.count("tickets") == SERVICES
    assert len(store.firing_alerts()) == ALERTS
    rows = store.outbox()
    assert {r.status for r in rows} == {"sent"}
    assert len(rows) == 2 * SERVICES  # one page and one PagerDuty trigger per incident

    pages = Counter(m["title"] for m in receiver.received if m["path"] == "/page")
    assert set(pages) == {f"[P1] OPENED #{i.id}: {i.title}" for i in incidents}
    assert sum(pages.values()) - len(pages) <= 1  # at most the delivery in flight at the kill
    triggers = Counter(r["body"]["dedup_key"] for r in pagerduty.requests)
    assert set(triggers) == {f"sentinel-incident-{i.id}" for i in incidents}
    assert sum(triggers.values()) - len(triggers) <= 1  # a repeat PagerDuty folds by dedup_key
    for incident in incidents:  # timers kept their original deadlines across the restart
        assert incident.next_escalation_at == incident.created_at + ESCALATE_AFTER


def test_outage_of_a_sink_and_a_target_delays_but_drops_and_repeats_nothing(tmp_path):
    port = free_port()  # nothing listens yet: connection refused
    with PagerDuty() as pagerduty:
        pagerduty.outage = [503, 503, 503]
        policy = EscalationPolicyConfig(
            name="default", levels=[LevelConfig(notify=[f"json://127.0.0.1:{port}/page"])]
        )
        store = Store(tmp_path / "sentinel.db")
        pd = PagerDutyConfig(
            name="pd",
            kind="pagerduty",
            routing_key=ROUTING_KEY,
            url=f"{pagerduty.base}/v2/enqueue",
        )
        desk = Desk(store, DeskSettings(policies={"default": policy}, external=[pd]))
        now = [1000.0]
        outbox = Outbox(
            store, {"apprise": AppriseSink(), "pd": PagerDutyDesk(pd, store)}, lambda: now[0]
        )
        opened = []
        for n in range(3):
            labels = {"alertname": "Down", "severity": "critical", "service": f"s{n}"}
            alert = Alert(labels, {"summary": f"s{n} down"}, AlertStatus.FIRING, now[0])
            opened.append(desk.open_incident(alert, (f"s{n}",), [1], (), "default", now=now[0]))
        desk.resolve(opened[0].id, "alice", now=now[0])

        def deliver_for(seconds: float) -> None:
            for _ in range(int(seconds // 30)):
                asyncio.run(outbox.flush())
                now[0] += 30

        deliver_for(120)  # the target refuses connections, PagerDuty answers 503
        assert all(r.status == "pending" for r in store.outbox() if r.sink == "apprise")
        with WebhookReceiver(port=port) as receiver:
            receiver.status = 503
            deliver_for(120)
            receiver.status = 200
            deliver_for(1200)
            received = [m["title"] for m in receiver.received]
    assert {r.status for r in store.outbox()} == {"sent"}
    expected = [
        f"[P1] OPENED #{opened[0].id}: s0 down",
        f"[P1] OPENED #{opened[1].id}: s1 down",
        f"[P1] OPENED #{opened[2].id}: s2 down",
        f"[P1] RESOLVED #{opened[0].id}: s0 down",
    ]
    assert received == expected  # in order, once each
    actions = [(r["body"]["dedup_key"], r["body"]["event_action"]) for r in pagerduty.requests]
    assert actions == [
        (f"sentinel-incident-{opened[0].id}", "trigger"),
        (f"sentinel-incident-{opened[1].id}", "trigger"),
        (f"sentinel-incident-{opened[2].id}", "trigger"),
        (f"sentinel-incident-{opened[0].id}", "resolve"),
    ]
