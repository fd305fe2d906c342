"""The desk's decisions over an injected clock, and the outbox against a real receiver."""

from __future__ import annotations

import asyncio

import pytest

from sentinel.correlate.problems import ProblemTracker
from sentinel.model import Alert, AlertStatus, IncidentStatus, Placement, RootCause
from sentinel.store import Store
from sentinel.tickets import Desk, DeskError, DeskSettings, Outbox, sinks
from sentinel.tickets.policy import EscalationPolicyConfig, LevelConfig


class Clock:
    def __init__(self, now: float = 0.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def alert(severity: str = "critical", service: str = "web", name: str = "Down") -> Alert:
    return Alert(
        {"alertname": name, "severity": severity, "service": service},
        {"summary": f"{service} is down"},
        AlertStatus.FIRING,
        0.0,
    )


def settings(urls: list[list[str]], repeat: int = 0) -> DeskSettings:
    levels = [LevelConfig(notify=u, escalate_after=600) for u in urls]
    policy = EscalationPolicyConfig(name="default", levels=levels, repeat=repeat)
    return DeskSettings(policies={"default": policy})


@pytest.fixture
def store(tmp_path):
    return Store(tmp_path / "s.db")


@pytest.mark.parametrize(
    ("impact", "urgency", "priority"),
    [
        (1, 1, "P1"),
        (1, 2, "P2"),
        (1, 3, "P3"),
        (2, 1, "P2"),
        (2, 2, "P3"),
        (2, 3, "P4"),
        (3, 1, "P3"),
        (3, 2, "P4"),
        (3, 3, "P5"),
    ],
)
def test_itil_priority_matrix(impact, urgency, priority):
    assert DeskSettings().priority_of(impact, urgency) == priority


def test_escalation_walks_levels_then_repeats_then_stops(store):
    desk = Desk(store, settings([["json://127.0.0.1:1/a"], ["json://127.0.0.1:1/b"]], repeat=1))
    incident = desk.open_incident(alert(), ["web"], [3], (), "default", now=0)  # P3: ack in 4h
    assert incident.next_escalation_at == 600
    desk.tick(599)
    assert store.incident(incident.id).escalation_level == 0
    steps = []
    for now in (600, 1200, 1800):
        desk.tick(now)
        current = store.incident(incident.id)
        steps.append(
            (current.escalation_level, current.escalation_cycle, current.next_escalation_at)
        )
    assert steps == [(1, 0, 1200), (0, 1, 1800), (1, 1, None)]
    events = [(r.event, r.target[-1]) for r in store.outbox(incident.id)]
    assert events == [("opened", "a"), ("escalated", "b"), ("escalated", "a"), ("escalated", "b")]


def test_acknowledge_stops_escalation_and_cannot_repeat(store):
    desk = Desk(store, settings([["json://127.0.0.1:1/a"], ["json://127.0.0.1:1/b"]]))
    incident = desk.open_incident(alert(), ["web"], [2], (), "default", now=0)
    desk.acknowledge(incident.id, "alice", now=100)
    desk.tick(10_000)
    assert store.incident(incident.id).escalation_level == 0
    assert [r.event for r in store.outbox(incident.id)] == ["opened", "acknowledged"]
    with pytest.raises(DeskError, match="not open"):
        desk.acknowledge(incident.id, "bob", now=200)


def test_sla_breach_is_recorded_and_notified_once(store):
    desk = Desk(store, settings([["json://127.0.0.1:1/a"]]))
    incident = desk.open_incident(alert(), ["web"], [1], (), "default", now=0)  # P1: ack in 15m
    desk.tick(15 * 60 - 1)
    assert not store.ticket(incident.id).ack_breached
    desk.tick(15 * 60)
    desk.tick(15 * 60 + 5)
    assert store.ticket(incident.id).ack_breached
    assert [r.event for r in store.outbox(incident.id)].count("sla_breach") == 1
    assert any(e.kind == "sla_breach" for e in store.timeline(incident.id))


def test_related_alert_raises_priority_without_paging(store):
    desk = Desk(store, settings([["json://127.0.0.1:1/a"]]))
    incident = desk.open_incident(alert("warning"), ["web"], [3], (), "default", now=0)
    assert incident.priority == "P4"
    desk.attach(incident, [Placement(alert("critical", "db"))], ["db", "web"], [1, 3], (), now=5)
    assert store.incident(incident.id).priority == "P1"
    assert [r.event for r in store.outbox(incident.id)] == ["opened"]


def test_joins_told_which_services_are_new_note_the_same_as_joins_compared(tmp_path):
    """A caller that knows which services are new to an incident says so (a wide one's
    thousands are then not compared at each batch): the incident and its timeline come
    out as when the desk compares the lists itself."""
    noted = []
    for told in (False, True):
        store = Store(tmp_path / f"{told}.db")
        desk = Desk(store, DeskSettings())
        incident = desk.open_incident(alert(service="db"), ["db"], [2], (), "default", now=0)
        joining = [Placement(alert(service=s, name=n), s) for s in ("web", "api") for n in "AB"]
        again = [Placement(alert(service="db", name="Slow"), "db")]
        joined = {"web", "api"} if told else None
        grown = desk.attach(incident, joining, ["api", "db", "web"], [2, 3, 1], (), 1, joined)
        desk.attach(grown, again, grown.services, [], (), 2, set() if told else None)
        noted.append(
            (store.incident(incident.id), [(e.kind, e.text) for e in store.timeline(incident.id)])
        )
        store.close()
    assert noted[0] == noted[1]
    assert noted[1][0].services == ("api", "db", "web") and noted[1][0].priority == "P1"
    assert [text for kind, text in noted[1][1] if kind == "alert"] == [
        "A joined: web is down",
        "A joined: api is down",
    ]


def test_incident_resolves_when_its_last_alert_does(store):
    desk = Desk(store, DeskSettings())
    first, second = alert(name="A"), alert(name="B")
    incident = desk.open_incident(first, ["web"], [2], (), "default", now=0)
    desk.attach(incident, [Placement(second)], ["web"], [2], (), now=1)
    resolved = lambda a: Alert(a.labels, a.annotations, AlertStatus.RESOLVED, 0, 10)  # noqa: E731
    desk.alerts_resolved([resolved(first)], now=10)
    assert store.incident(incident.id).status == IncidentStatus.OPEN
    desk.alerts_resolved([resolved(second)], now=11)
    assert store.incident(incident.id).status == IncidentStatus.RESOLVED


def test_the_cause_stays_the_cause_while_its_symptoms_outlast_it(store):
    """The database recovers before the web tier that called it: the incident keeps naming
    the database, and resolves, with the database's signature, when the web tier does."""
    desk = Desk(store, DeskSettings(), problems=ProblemTracker(store))
    down, slow, web = alert(service="db"), alert(service="db", name="Slow"), alert()
    cause = RootCause("db", 0.9, ("db down",), "Down")
    incident = desk.open_incident(down, ["db"], [2], (cause,), "default", now=0, node="db")
    joining = [Placement(slow, "db"), Placement(web, "web")]
    desk.attach(incident, joining, ["db", "web"], [2, 2], (cause,), now=1)

    def ended(a):
        return Alert(a.labels, a.annotations, AlertStatus.RESOLVED, 0, 10)

    assert desk.alerts_resolved([ended(down), ended(slow)], now=10) == {incident.id: True}
    still = store.incident(incident.id)
    assert still.status == IncidentStatus.OPEN and still.root_causes == (cause,)
    desk.alerts_resolved([ended(web)], now=11)
    assert store.incident(incident.id).status == IncidentStatus.RESOLVED
    assert [i.id for i in store.resolved_with_signature("db/Down", since=0)] == [incident.id]
    entries = [(e.kind, e.text) for e in store.timeline(incident.id) if e.at >= 10]
    assert entries[:3] == [
        ("alert", "Down on db resolved"),
        ("alert", "Slow on db resolved"),
        ("alert", "Down on web resolved"),
    ]
    assert ("resolved", "all alerts resolved") in entries


def test_outbox_delivers_in_order_after_an_outage_without_duplicates(store, receiver):
    clock = Clock()
    desk = Desk(store, settings([[receiver.url("oncall")]]))
    outbox = Outbox(store, {name: sink() for name, sink in sinks}, clock)
    receiver.status = 503
    first = desk.open_incident(alert(name="A", service="a"), ["a"], [2], (), "default", now=0)
    second = desk.open_incident(alert(name="B", service="b"), ["b"], [2], (), "default", now=0)
    assert asyncio.run(outbox.flush()) == 0
    [failed, waiting] = store.outbox()
    assert (failed.attempts, failed.status, waiting.attempts) == (1, "pending", 0)
    assert failed.next_attempt_at == 2.0  # first backoff step
    receiver.status = 200
    assert asyncio.run(outbox.flush()) == 0  # not due yet
    clock.now = 2.0
    assert asyncio.run(outbox.flush()) == 2
    assert asyncio.run(outbox.flush()) == 0
    assert receiver.titles() == [
        f"[P2] OPENED #{first.id}: a is down",
        f"[P2] OPENED #{second.id}: b is down",
    ]


def deliver_once(store, target: str):
    """Queue one message for ``target``, flush the outbox once, return its row."""
    store.enqueue(
        dedup_key="k",
        incident_id=None,
        event="opened",
        target=target,
        title="t",
        body="b",
        notify_type="info",
        now=0,
    )
    outbox = Outbox(store, {name: sink() for name, sink in sinks}, Clock())
    asyncio.run(outbox.flush())
    [row] = store.outbox()
    return row


def test_unusable_target_goes_to_dead_letters_at_once(store):
    row = deliver_once(store, "nosuch://x")
    assert row.status == "dead" and "apprise" in (row.last_error or "")


def test_refused_connection_is_retried_with_a_reason(store):
    row = deliver_once(store, "json://127.0.0.1:9/x")
    assert row.status == "pending" and row.attempts == 1
    assert "Connection error" in (row.last_error or "")


def test_team_targets_page_the_team_and_whoever_is_on_call(tmp_path):
    from sentinel.tickets.policy import RotationConfig, TeamConfig

    day = 86400.0
    team = TeamConfig(
        name="dba",
        notify=["json://127.0.0.1:9/dba-channel"],
        rotation=RotationConfig(
            members=["json://127.0.0.1:9/ann", "json://127.0.0.1:9/bo"], shift=day, start=0
        ),
    )
    policy = EscalationPolicyConfig(name="default", levels=[LevelConfig(notify=["team:dba"])])
    store = Store(tmp_path / "s.db")
    desk = Desk(store, DeskSettings(policies={"default": policy}, teams={"dba": team}))
    alert = Alert({"alertname": "Down", "service": "db"}, {}, AlertStatus.FIRING, 0)
    first = desk.open_incident(alert, ("db",), [1], (), "default", now=0.5 * day)
    other = Alert({"alertname": "Down", "service": "db2"}, {}, AlertStatus.FIRING, 0)
    second = desk.open_incident(other, ("db2",), [1], (), "default", now=1.5 * day)
    assert [r.target for r in store.outbox(first.id)] == [
        "json://127.0.0.1:9/dba-channel",
        "json://127.0.0.1:9/ann",
    ]
    assert [r.target for r in store.outbox(second.id)] == [
        "json://127.0.0.1:9/dba-channel",
        "json://127.0.0.1:9/bo",
    ]


def test_sla_on_a_business_hours_calendar_skips_nights_weekends_and_holidays(tmp_path):
    import datetime as dt

    from sentinel.tickets.calendar import CalendarConfig
    from sentinel.tickets.policy import DEFAULT_SLA, SlaTarget

    office = CalendarConfig(
        name="office", timezone="Europe/Berlin", hours="09:00-17:00", holidays=["2026-12-24"]
    )
    sla = {
        **DEFAULT_SLA,
        "P3": SlaTarget(acknowledge=4 * 3600, resolve=16 * 3600, calendar="office"),
    }
    store = Store(tmp_path / "s.db")
    desk = Desk(store, DeskSettings(sla=sla, calendars={"office": office}))
    berlin = dt.timezone(dt.timedelta(hours=1))  # CET, no summer time in December
    opened = dt.datetime(2026, 12, 23, 15, 0, tzinfo=berlin).timestamp()  # Wednesday 15:00
    alert = Alert({"alertname": "Slow", "service": "shop"}, {}, AlertStatus.FIRING, opened)
    incident = desk.open_incident(alert, ["shop"], [2], (), "default", now=opened)
    assert incident.priority == "P3"
    ticket = store.ticket(incident.id)
    local = lambda ts: dt.datetime.fromtimestamp(ts, berlin).strftime("%a %d %H:%M")  # noqa: E731
    # 2 h on Wednesday; the 24th is a holiday; 2 more hours on Friday the 25th
    assert local(ticket.acknowledge_due) == "Fri 25 11:00"
    # 2 h Wed + 8 h Fri + Sat/Sun closed + 6 h Monday the 28th
    assert local(ticket.resolve_due) == "Mon 28 15:00"


def test_message_templates_per_event(tmp_path):
    from sentinel.tickets.messages import MessageTemplate, TemplatesConfig

    templates = TemplatesConfig(
        opened=MessageTemplate(
            title="{priority} {services}: {title}",
            body="cause {root_cause} ({root_cause_score})\n{evidence}\nrun: {ack}",
        )
    )
    policy = EscalationPolicyConfig(
        name="default", levels=[LevelConfig(notify=["json://127.0.0.1:9/page"])]
    )
    store = Store(tmp_path / "s.db")
    desk = Desk(store, DeskSettings(policies={"default": policy}, templates=templates))
    from sentinel.model import RootCause

    alert = Alert(
        {"alertname": "Down", "severity": "critical"}, {"summary": "db down"}, AlertStatus.FIRING, 0
    )
    cause = (RootCause("db", 0.87, ("db: Down firing", "first to fire")),)
    incident = desk.open_incident(alert, ["db"], [1], cause, "default", now=0)
    [page] = store.outbox(incident.id)
    assert page.title == "P1 db: db down"
    assert page.body == (
        f"cause db (0.87)\n  - db: Down firing\n  - first to fire\nrun: sentinel ack {incident.id}"
    )
    desk.resolve(incident.id, "alice", now=10)  # no template: sentinel's wording
    assert store.outbox(incident.id)[-1].title == f"[P1] RESOLVED #{incident.id}: db down"


def test_a_page_for_a_storm_of_thousands_of_services_names_a_few(tmp_path):
    """An incident on a service thousands depend on pages with the first services and how
    many more: naming each would make a page no pager, chat or inbox takes whole."""
    policy = EscalationPolicyConfig(
        name="default", levels=[LevelConfig(notify=["json://127.0.0.1:9/page"])]
    )
    store = Store(tmp_path / "s.db")
    desk = Desk(store, DeskSettings(policies={"default": policy}))
    services = sorted(["dns", *(f"svc-{n:04}" for n in range(3000))])
    incident = desk.open_incident(
        alert(service="dns"), services, [2] * len(services), (), "default", now=0
    )
    [page] = store.outbox(incident.id)
    assert "services: dns, svc-0000, " in page.body
    assert "svc-0018 and 2,981 more" in page.body and "svc-0019" not in page.body
