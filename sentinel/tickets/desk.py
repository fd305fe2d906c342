"""The built-in desk: incident lifecycle, tickets, SLA timers and escalation.

Every method takes ``now`` and does all its writes (state, timeline, outbox) in one store
transaction, so a decision and the notifications it implies are committed together. The
desk never talks to the outside world: the outbox delivers what it queued. Escalation and
SLA deadlines are columns in the store, so a restarted daemon resumes them where they were.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import replace

from sentinel.correlate.problems import ProblemTracker, seen_before
from sentinel.correlate.topology import Topology
from sentinel.metrics import Metrics
from sentinel.model import (
    Alert,
    GroupingHint,
    Incident,
    IncidentStatus,
    Placement,
    RootCause,
    Severity,
    Ticket,
    TimelineEntry,
)
from sentinel.silences import Silence
from sentinel.store import Store
from sentinel.tickets.base import BUILT_IN_SINKS
from sentinel.tickets.external import incident_payload
from sentinel.tickets.messages import render_message
from sentinel.tickets.policy import DeskSettings, EscalationPolicyConfig

log = logging.getLogger("sentinel.desk")


NOTIFY_TYPE = {
    "opened": "failure",
    "reopened": "failure",
    "escalated": "failure",
    "sla_breach": "warning",
    "acknowledged": "info",
    "resolved": "success",
    "note": "info",
}
PAGES = ("opened", "reopened", "escalated")  # events that ask someone to act


def _when(ts: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime(ts))


def _alerts(count: int) -> str:
    return f"{count} alert" + ("" if count == 1 else "s")


def _resolved_text(alert: Alert, node: str) -> str:
    """Names the service (an alert with none is known by its own name)."""
    named = node and node != alert.name
    return f"{alert.name} on {node} resolved" if named else f"{alert.name} resolved"


def _next_step(policy: EscalationPolicyConfig, level: int, cycle: int) -> tuple[int, int] | None:
    """The (level, cycle) after this one, or None when the policy is exhausted."""
    if level + 1 < len(policy.levels):
        return level + 1, cycle
    if cycle < policy.repeat:
        return 0, cycle + 1
    return None


class Desk:
    """Opens, updates, escalates and closes incidents in the store.

    >>> import tempfile, pathlib
    >>> from sentinel.model import AlertStatus
    >>> store = Store(pathlib.Path(tempfile.mkdtemp()) / "s.db")
    >>> desk = Desk(store, DeskSettings())
    >>> alert = Alert({"alertname": "Down", "severity": "critical"}, {}, AlertStatus.FIRING, 0)
    >>> incident = desk.open_incident(alert, ("web",), [1], (), "default", now=0)
    >>> incident.priority, store.ticket(incident.id).acknowledge_due
    ('P1', 900.0)
    """

    def __init__(
        self,
        store: Store,
        settings: DeskSettings,
        metrics: Metrics | None = None,
        problems: ProblemTracker | None = None,
    ):
        self.store = store
        self.settings = settings
        self.metrics = metrics
        self.problems = problems

    # -- lifecycle --------------------------------------------------------------------------

    def open_incident(
        self,
        alert: Alert,
        services: Sequence[str],
        tiers: Sequence[int],
        root_causes: Sequence[RootCause],
        policy_name: str,
        now: float,
        node: str = "",
        group_key: str = "",
    ) -> Incident:
        placed = [Placement(alert, node, group_key)]
        return self._open(
            alert,
            services,
            tiers,
            [alert.severity],
            root_causes,
            policy_name,
            now,
            lambda incident_id: self.store.add_alerts(incident_id, placed, now),
        )

    def _open(
        self,
        alert: Alert,
        services: Sequence[str],
        tiers: Sequence[int],
        severities: Sequence[Severity],
        root_causes: Sequence[RootCause],
        policy_name: str,
        now: float,
        place: Callable[[int], object],
    ) -> Incident:
        """A new incident, titled by ``alert``, its first; ``place`` gives it its alerts."""
        settings = self.settings
        impact = settings.impact(tiers)
        urgency = min(settings.urgency(severity) for severity in severities)
        priority = settings.priority_of(impact, urgency)
        policy = settings.policy(policy_name)
        first = policy.levels[0]
        draft = Incident(
            id=0,
            title=alert.summary,
            status=IncidentStatus.OPEN,
            priority=priority,
            impact=impact,
            urgency=urgency,
            services=tuple(services),
            root_causes=tuple(root_causes),
            policy=policy.name,
            created_at=now,
            updated_at=now,
            next_escalation_at=now + first.escalate_after if _next_step(policy, 0, 0) else None,
            began_at=alert.starts_at,
            active_at=alert.starts_at,
        )
        acknowledge_due, resolve_due = settings.deadlines(priority, now)
        with self.store.transaction():
            incident_id = self.store.add_incident(draft)
            place(incident_id)
            self.store.add_ticket(Ticket(0, incident_id, "desk", acknowledge_due, resolve_due))
            self._record(incident_id, now, "opened", f"{alert.name}: {alert.summary}")
            self._record(
                incident_id,
                now,
                "priority",
                f"{priority} (impact {impact} × urgency {urgency}); acknowledge by "
                f"{_when(acknowledge_due)}, resolve by {_when(resolve_due)}",
            )
            incident = self._get(incident_id)
            self._note_known_error(incident, draft.root_causes, now)
            self._notify(incident, "opened", self._targets(first.notify, now), now, step="0.0")
        log.info("incident opened id=%s priority=%s title=%r", incident_id, priority, draft.title)
        if self.metrics:
            self.metrics.incidents.labels(priority).inc()
        return incident

    def attach(
        self,
        incident: Incident,
        placed: Sequence[Placement],
        services: Sequence[str],
        tiers: Sequence[int],
        root_causes: Sequence[RootCause],
        now: float,
        joined: Collection[str] | None = None,
    ) -> Incident:
        """Add related alerts to an incident: no page of their own, priority may rise. The
        timeline notes each newly affected service, not every alert (storms have
        thousands; ``incidents show`` lists them all). ``joined``: the services new to it,
        where the caller knows them (a wide incident's thousands are then not compared
        at each batch). Returns the incident as it is now."""
        incident_id = incident.id
        with self.store.transaction():
            self.store.add_alerts(incident_id, placed, now)
            impact = min(incident.impact, self.settings.impact(tiers))
            severities = {p.alert.severity for p in placed}
            urgency = min(incident.urgency, *map(self.settings.urgency, severities))
            priority = self.settings.priority_of(impact, urgency)
            changed: dict[str, object] = {"updated_at": now}
            latest = max(p.alert.starts_at for p in placed)
            if incident.active_at is None or latest > incident.active_at:
                changed.update(active_at=latest)
            if joined is None:
                grew = tuple(services) != incident.services
                fresh = {p.node for p in placed}.difference(incident.services) if grew else set()
            else:
                grew, fresh = bool(joined), set(joined)
            if grew:
                changed.update(services=services)
                entries = []
                for alert, node, _ in placed:
                    if node in fresh:
                        fresh.discard(node)
                        text = f"{alert.name} joined: {alert.summary}"
                        entries.append(TimelineEntry(incident_id, now, "alert", text))
                self.store.add_timeline(*entries)
            if tuple(root_causes) != incident.root_causes:
                changed.update(root_causes=root_causes)
                self._note_known_error(incident, tuple(root_causes), now)
            if priority != incident.priority:
                changed.update(impact=impact, urgency=urgency, priority=priority)
                self._record(incident_id, now, "priority", f"{incident.priority} → {priority}")
            self.store.update_incident(incident_id, **changed)
        log.debug("%d alerts joined incident id=%s", len(placed), incident_id)
        if "services" in changed:
            changed["services"] = tuple(services)
        if "root_causes" in changed:
            changed["root_causes"] = tuple(root_causes)
        return replace(incident, **changed)  # type: ignore[arg-type]

    def merge(
        self,
        target_id: int,
        source_ids: Sequence[int],
        actor: str,
        now: float,
        rank: Callable[[list[Alert]], Sequence[RootCause]],
        reason: str = "",
    ) -> Incident:
        """Fold incidents that are one trouble into another, by hand (correlation split
        them): their alerts move over and the target is ranked afresh on all of them
        (``rank``: the earliest alert per service and measure). Each source resolves as
        merged, which tells whoever it paged and folds into no problem record: its
        trouble is the target's."""
        unresolved = (IncidentStatus.OPEN, IncidentStatus.ACKNOWLEDGED)
        with self.store.transaction():
            # Unresolved ones only, as pagers merge: a resolved incident is already filed
            # under its signature, and a reopen brings it back first.
            merged = [self._get(i) for i in dict.fromkeys([target_id, *source_ids])]
            for incident in merged:
                if incident.status not in unresolved:
                    raise DeskError(f"incident {incident.id} is {incident.status}, not open")
            target, sources = merged[0], merged[1:]
            if not sources:
                raise DeskError(f"nothing to merge into incident {target_id}")
            moved = self.store.move_alerts([i.id for i in sources], target_id)
            representatives = [a for _, a in self.store.node_representatives(target_id)]
            causes = tuple(rank(representatives))
            impact = min(i.impact for i in merged)
            urgency = min(i.urgency for i in merged)
            priority = self.settings.priority_of(impact, urgency)
            began = [i.began_at for i in merged if i.began_at is not None]
            active = [i.active_at for i in merged if i.active_at is not None]
            services = sorted({s for i in merged for s in i.services})
            self.store.update_incident(
                target_id,
                services=tuple(services),
                root_causes=causes,
                impact=impact,
                urgency=urgency,
                priority=priority,
                began_at=min(began, default=None),
                active_at=max(active, default=None),
                updated_at=now,
            )
            if causes:  # remembered: correlation joins them to their cause next time
                hints = [GroupingHint(causes[0].node, s, True, now, actor) for s in services]
                self.store.add_grouping_hints(hints)
            why = f": {reason}" if reason else ""
            listed = ", ".join(f"#{i.id}" for i in sources)
            self._record(target_id, now, "merged", f"{listed} ({_alerts(moved)}){why}", actor)
            if priority != target.priority:
                self._record(target_id, now, "priority", f"{target.priority} → {priority}")
            if causes != target.root_causes:
                self._note_known_error(target, causes, now)
            for source in sources:
                self._resolve(source, actor, f"merged into #{target_id}{why}", now, fold=False)
            if self.problems:
                self.problems.merged([i.id for i in sources], target_id, now)
        log.info("incidents merged into id=%s sources=%s by=%s", target_id, listed, actor)
        return self._get(target_id)

    def split(
        self,
        incident_id: int,
        services: Sequence[str],
        actor: str,
        now: float,
        rank: Callable[[list[Alert]], Sequence[RootCause]],
        topology: Topology,
        reason: str = "",
    ) -> Incident:
        """Take some services' alerts out of an incident into a new one, by hand (correlation
        joined two troubles): both are ranked afresh (``rank``: the earliest alert per
        service and measure) and prioritised on what each holds; the new one opens and
        pages as any other. Returns the new incident."""
        moving = sorted(set(services))
        with self.store.transaction():
            incident = self._get(incident_id)
            if incident.status not in (IncidentStatus.OPEN, IncidentStatus.ACKNOWLEDGED):
                raise DeskError(f"incident {incident_id} is {incident.status}, not open")
            absent = [s for s in moving if s not in incident.services]
            if absent:
                raise DeskError(f"incident {incident_id} has no alerts on {', '.join(absent)}")
            staying = [s for s in incident.services if s not in moving]
            if not staying:
                raise DeskError(f"that is all of incident {incident_id}: nothing would remain")
            moved = self.store.incident_alerts(incident_id, nodes=moving)
            causes = rank([a for _, a in self.store.node_representatives(incident_id, moving)])
            root = causes[0].node if causes else moving[0]
            split_off = self._open(
                moved[0],
                moving,
                [topology.tier(s) for s in moving],
                [a.severity for a in moved],
                causes,
                topology.policy(root),
                now,
                lambda new_id: self.store.move_node_alerts(incident_id, moving, new_id),
            )
            self.store.update_incident(split_off.id, active_at=max(a.starts_at for a in moved))
            why = f": {reason}" if reason else ""
            self._record(split_off.id, now, "split", f"from #{incident_id}{why}", actor)
            kept = self.store.incident_alerts(incident_id)
            impact = self.settings.impact([topology.tier(s) for s in staying])
            urgency = min(self.settings.urgency(a.severity) for a in kept)
            priority = self.settings.priority_of(impact, urgency)
            remaining = rank([a for _, a in self.store.node_representatives(incident_id)])
            self.store.update_incident(
                incident_id,
                services=tuple(staying),
                root_causes=tuple(remaining),
                impact=impact,
                urgency=urgency,
                priority=priority,
                began_at=min(a.starts_at for a in kept),
                active_at=max(a.starts_at for a in kept),
                updated_at=now,
            )
            # Remembered: neither side's cause takes the other's services by nearness again.
            hints = []
            if remaining:
                hints += [GroupingHint(s, remaining[0].node, False, now, actor) for s in moving]
            if causes:
                hints += [GroupingHint(causes[0].node, s, False, now, actor) for s in staying]
            self.store.add_grouping_hints(hints)
            text = f"{', '.join(moving)} ({_alerts(len(moved))}) to #{split_off.id}{why}"
            self._record(incident_id, now, "split", text, actor)
            if priority != incident.priority:
                self._record(incident_id, now, "priority", f"{incident.priority} → {priority}")
            for either in (split_off.id, incident_id):  # one may hold only resolved alerts
                if not self.store.has_firing_alert(either):
                    self._resolve(self._get(either), "sentinel", "all alerts resolved", now)
        log.info("incident split id=%s services=%s into id=%s", incident_id, moving, split_off.id)
        return self._get(split_off.id)

    def reopen(
        self, incident: Incident, alert: Alert, now: float, node: str = "", group_key: str = ""
    ) -> None:
        """An alert fired again soon after its incident resolved: the same trouble is back
        (a flap, or a fix that did not hold), so the incident reopens and escalation
        starts over instead of a second incident paging."""
        with self.store.transaction():
            self.store.add_alerts(incident.id, [Placement(alert, node, group_key)], now)
            since = now - (incident.resolved_at or now)
            why = f"{alert.name} fired again {since:.0f} s after resolution"
            self._restart(incident, now, why, "sentinel", began_at=alert.starts_at)
        log.info("incident reopened id=%s alert=%s", incident.id, alert.name)

    def _restart(
        self,
        incident: Incident,
        now: float,
        why: str,
        actor: str,
        began_at: float | None = None,
    ) -> None:
        """Back to open, escalation from the first level, the first level told; its trouble
        began again at ``began_at`` (the alert that reopened it), if one did."""
        policy = self.settings.policy(incident.policy)
        first = policy.levels[0]
        began = {} if began_at is None else {"began_at": began_at, "active_at": began_at}
        self.store.update_incident(
            incident.id,
            **began,
            status=IncidentStatus.OPEN,
            resolved_at=None,
            acknowledged_at=None,
            escalation_level=0,
            escalation_cycle=0,
            next_escalation_at=now + first.escalate_after if _next_step(policy, 0, 0) else None,
            updated_at=now,
        )
        self._record(incident.id, now, "reopened", why, actor)
        targets = self._targets(first.notify, now)
        self._notify(self._get(incident.id), "reopened", targets, now, step=f"{now:.3f}")

    def alerts_resolved(self, alerts: Sequence[Alert], now: float) -> dict[int, bool]:
        """Firing alerts ended (a healed fault's alerts end together): an incident resolves
        when its last alert does. Its ranking stands: it says what caused the incident,
        which does not change as the trouble winds down (a database that recovers before
        the services that called it remains the cause, and the problem's signature).
        Returns the incidents they were in, each with whether it still fires: then only
        its ``updated_at`` changed, to ``now`` (a caller's copy of it needs no reading)."""
        with self.store.transaction():
            resolved = self.store.resolve_alerts(
                [(a.fingerprint, a.ends_at or now) for a in alerts], now
            )
            ended = {fingerprint: (incident, node) for fingerprint, incident, node in resolved}
            # In the order given, each once (a later copy of an alert resolves nothing more),
            # naming its service: an incident's alerts share names across its services.
            noted = {a.fingerprint: a for a in alerts if a.fingerprint in ended}
            self.store.add_timeline(
                *(
                    TimelineEntry(ended[fp][0], now, "alert", _resolved_text(a, ended[fp][1]))
                    for fp, a in noted.items()
                )
            )
            stopped: dict[int, bool] = {}  # in order
            for incident_id in dict.fromkeys(incident for incident, _ in ended.values()):
                stopped[incident_id] = self.store.has_firing_alert(incident_id)
                if stopped[incident_id]:
                    self.store.update_incident(incident_id, updated_at=now)
                    continue
                incident = self._get(incident_id)
                if incident.status not in (IncidentStatus.RESOLVED, IncidentStatus.CLOSED):
                    self._resolve(incident, "sentinel", "all alerts resolved", now)
        return stopped

    def acknowledge(self, incident_id: int, actor: str, now: float) -> Incident:
        with self.store.transaction():
            incident = self._get(incident_id)
            if incident.status != IncidentStatus.OPEN:
                raise DeskError(f"incident {incident_id} is {incident.status}, not open")
            self.store.update_incident(
                incident_id,
                status=IncidentStatus.ACKNOWLEDGED,
                acknowledged_at=now,
                next_escalation_at=None,
                updated_at=now,
            )
            self._record(incident_id, now, "acknowledged", "escalation stopped", actor)
            self._notify_notified(self._get(incident_id), "acknowledged", now, actor)
        log.info("incident acknowledged id=%s by=%s", incident_id, actor)
        return self._get(incident_id)

    def resolve(self, incident_id: int, actor: str, now: float, reason: str = "") -> Incident:
        with self.store.transaction():
            incident = self._get(incident_id)
            if incident.status in (IncidentStatus.RESOLVED, IncidentStatus.CLOSED):
                raise DeskError(f"incident {incident_id} is already {incident.status}")
            self.store.resolve_incident_alerts(incident_id, now, now)
            self._resolve(incident, actor, reason or "resolved by hand", now)
        return self._get(incident_id)

    def close(self, incident_id: int, actor: str, now: float, reason: str = "") -> Incident:
        """Close a resolved incident: final, it no longer reopens."""
        with self.store.transaction():
            incident = self._get(incident_id)
            if incident.status != IncidentStatus.RESOLVED:
                raise DeskError(f"incident {incident_id} is {incident.status}, not resolved")
            self.store.update_incident(incident_id, status=IncidentStatus.CLOSED, updated_at=now)
            self._record(incident_id, now, "closed", reason or "closed", actor)
        return self._get(incident_id)

    def note(self, incident_id: int, text: str, actor: str, now: float) -> Incident:
        """A work note in the timeline: what was tried, what fixed it. The next incident
        with the same root cause shows it (``incidents show``); a closed one takes no more."""
        text = text.strip()
        if not text:
            raise DeskError("a note needs some text")
        with self.store.transaction():
            if self._get(incident_id).status == IncidentStatus.CLOSED:
                raise DeskError(f"incident {incident_id} is closed")
            self.store.update_incident(incident_id, updated_at=now)
            self._record(incident_id, now, "note", text, actor)
            # To the desks that keep a record (a comment, work notes); no one is paged.
            noted = self._get(incident_id)
            self._notify(noted, "note", [], now, f"{now:.6f}", actor, note=text)
        return self._get(incident_id)

    def reopen_by_hand(self, incident_id: int, actor: str, now: float, reason: str) -> Incident:
        """Reopen a resolved incident whose fix did not hold (a closed one stays closed)."""
        with self.store.transaction():
            incident = self._get(incident_id)
            if incident.status != IncidentStatus.RESOLVED:
                raise DeskError(f"incident {incident_id} is {incident.status}, not resolved")
            self._restart(incident, now, f"reopened: {reason}" if reason else "reopened", actor)
        return self._get(incident_id)

    def _resolve(
        self, incident: Incident, actor: str, reason: str, now: float, fold: bool = True
    ) -> None:
        """Resolve, tell whoever was paged, and (``fold``) file it under its signature."""
        self.store.update_incident(
            incident.id,
            status=IncidentStatus.RESOLVED,
            resolved_at=now,
            next_escalation_at=None,
            updated_at=now,
        )
        self._record(incident.id, now, "resolved", reason, actor)
        self._notify_notified(self._get(incident.id), "resolved", now, actor)
        if self.problems and fold:
            problem = self.problems.incident_resolved(self._get(incident.id), now)
            if problem:
                self._record(incident.id, now, "problem", f"recurring: problem #{problem.id}")
        log.info("incident resolved id=%s by=%s reason=%r", incident.id, actor, reason)

    # -- timers -----------------------------------------------------------------------------

    def tick(self, now: float) -> None:
        """Take every escalation step, flag every SLA breach that is due, and close what
        has stayed resolved for ``lifecycle.close_after``."""
        for incident in self.store.due_escalations(now):
            self._escalate(incident, now)
        for incident, ticket in self.store.sla_due(now):
            self._breach(incident, ticket, now)
        for incident in self.store.resolved_before(now - self.settings.lifecycle.close_after):
            self.close(incident.id, "sentinel", now, "resolved and quiet: closed")

    def _escalate(self, incident: Incident, now: float) -> None:
        policy = self.settings.policy(incident.policy)
        step = _next_step(policy, incident.escalation_level, incident.escalation_cycle)
        silenced_by = self._silenced_by(incident.id, now)
        if silenced_by:  # hold the level while silenced; look again after one more delay
            held_until = now + policy.levels[incident.escalation_level].escalate_after
            with self.store.transaction():
                self.store.update_incident(incident.id, next_escalation_at=held_until)
                self._record(
                    incident.id, now, "escalation_held", f"silenced by {', '.join(silenced_by)}"
                )
            return
        with self.store.transaction():
            if step is None:  # policy changed under a waiting incident: nothing more to do
                self.store.update_incident(incident.id, next_escalation_at=None)
                return
            level, cycle = step
            after = _next_step(policy, level, cycle)
            self.store.update_incident(
                incident.id,
                escalation_level=level,
                escalation_cycle=cycle,
                next_escalation_at=now + policy.levels[level].escalate_after if after else None,
                updated_at=now,
            )
            self._record(
                incident.id,
                now,
                "escalated",
                f"not acknowledged: escalated to level {level + 1}"
                + (f" (cycle {cycle + 1})" if cycle else ""),
            )
            self._notify(
                self._get(incident.id),
                "escalated",
                self._targets(policy.levels[level].notify, now),
                now,
                step=f"{level}.{cycle}",
            )
        log.info("incident escalated id=%s level=%s cycle=%s", incident.id, level + 1, cycle)
        if self.metrics:
            self.metrics.escalations.inc()

    def _breach(self, incident: Incident, ticket: Ticket, now: float) -> None:
        kind = (
            "acknowledge"
            if (
                incident.status == IncidentStatus.OPEN
                and not ticket.ack_breached
                and ticket.acknowledge_due <= now
            )
            else "resolve"
        )
        due = ticket.acknowledge_due if kind == "acknowledge" else ticket.resolve_due
        with self.store.transaction():
            flag = "ack_breached" if kind == "acknowledge" else "resolve_breached"
            self.store.update_ticket(incident.id, **{flag: 1})
            self._record(incident.id, now, "sla_breach", f"not {kind}d by {_when(due)}")
            policy = self.settings.policy(incident.policy)
            level = min(incident.escalation_level, len(policy.levels) - 1)
            targets = self._targets(policy.levels[level].notify, now)
            self._notify(incident, "sla_breach", targets, now, step=kind)
        log.warning("sla breach id=%s kind=%s", incident.id, kind)
        if self.metrics:
            self.metrics.sla_breaches.labels(kind).inc()

    # -- helpers ----------------------------------------------------------------------------

    def _get(self, incident_id: int) -> Incident:
        incident = self.store.incident(incident_id)
        if incident is None:
            raise DeskError(f"no incident {incident_id}")
        return incident

    def _record(
        self, incident_id: int, now: float, kind: str, text: str, actor: str = "sentinel"
    ) -> None:
        self.store.add_timeline(TimelineEntry(incident_id, now, kind, text, actor))

    def _notify(
        self,
        incident: Incident,
        event: str,
        targets: Sequence[str],
        now: float,
        step: str,
        actor: str = "sentinel",
        note: str = "",
    ) -> None:
        """Queue one delivery per target and per external sink that takes the event;
        ``step`` makes the dedup key unique per occasion."""
        external = [s for s in self.settings.external if event in s.events]
        silenced_by = self._silenced_by(incident.id, now) if targets or external else []
        if silenced_by:
            self._record(
                incident.id,
                now,
                "notification",
                f"{event}: suppressed, silenced by {', '.join(silenced_by)}",
                actor,
            )
            targets = []
            external = [s for s in external if not s.hold_when_silenced]
        known = self.problems.known_error(incident.root_causes) if self.problems else None
        template = getattr(self.settings.templates, event, None)
        # Whoever is paged learns what was done last time, as they would from the desk.
        asked = event in PAGES and (targets or external)
        seen = seen_before(self.store, incident) if asked else None
        title, body = render_message(incident, event, actor, known, template, note, seen)
        queued = 0
        if external:
            payload = json.dumps(incident_payload(self.store, incident, event, title, body, actor))
        for sink in external:
            queued += self.store.enqueue(
                dedup_key=f"incident:{incident.id}:{event}:{step}:sink:{sink.name}",
                incident_id=incident.id,
                event=event,
                target=f"sink:{sink.name}",
                title=title,
                body=payload,
                notify_type=NOTIFY_TYPE[event],
                now=now,
                sink=sink.name,
            )
        for target in targets:
            digest = hashlib.sha256(target.encode()).hexdigest()[:12]
            queued += self.store.enqueue(
                dedup_key=f"incident:{incident.id}:{event}:{step}:{digest}",
                incident_id=incident.id,
                event=event,
                target=target,
                title=title,
                body=body,
                notify_type=NOTIFY_TYPE[event],
                now=now,
            )
        if queued:
            self._record(incident.id, now, "notification", f"{event}: {queued} queued", actor)

    def _targets(self, notify: list[str], now: float) -> list[str]:
        return self.settings.targets(notify, now)

    def _note_known_error(self, incident: Incident, causes: tuple[RootCause, ...], now: float):
        """Link an incident to the known error its likeliest cause matches, once, and put
        the workaround in its timeline where on-call staff look first."""
        problem = self.problems.known_error(causes) if self.problems else None
        if problem is None or self.store.is_linked(problem.id, incident.id):
            return
        self.problems.link(problem, incident, now)
        self._record(
            incident.id,
            now,
            "known_error",
            f"matches known error problem #{problem.id} ({problem.signature}); "
            f"workaround: {problem.workaround}",
        )

    def note_silence(self, silence: Silence, action: str, actor: str, now: float) -> int:
        """Record a silence being set or expired in the timeline of every unresolved
        incident with a firing alert it matches; returns how many."""
        noted = 0
        with self.store.transaction():
            for incident in self.store.unresolved_incidents():
                alerts = self.store.firing_alerts(incident.id)
                hit = sum(silence.silences(dict(a.labels), silence.starts_at) for a in alerts)
                if not hit:
                    continue
                self._record(
                    incident.id,
                    now,
                    "silence",
                    f"silence {silence.id} {action} ({hit} of {len(alerts)} alerts, until "
                    f"{_when(silence.ends_at)}): {silence.comment}",
                    actor,
                )
                noted += 1
        return noted

    def _silenced_by(self, incident_id: int, now: float) -> list[str]:
        """Ids of active silences, if together they cover every alert of the incident."""
        silences = self.store.active_silences(now)
        if not silences:
            return []
        used: list[str] = []
        for labels in self.store.incident_label_sets(incident_id):
            hit = next((s.id for s in silences if s.silences(labels, now)), None)
            if hit is None:
                return []
            if hit not in used:
                used.append(hit)
        return used

    def _notify_notified(self, incident: Incident, event: str, now: float, actor: str) -> None:
        """Tell everyone already paged for this incident how it ended or who took it (and
        the external sinks that take the event)."""
        paged = [r.target for r in self.store.outbox(incident.id) if r.sink in BUILT_IN_SINKS]
        targets = list(dict.fromkeys(paged))
        self._notify(incident, event, targets, now, step=f"{now:.3f}", actor=actor)


class DeskError(ValueError):
    """A desk action that does not apply to the incident as it is."""
