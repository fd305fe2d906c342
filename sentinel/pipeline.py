"""detect → correlate → desk: what happens to one batch of samples or alerts.

Synchronous on purpose: each alert is handled in store transactions that never wait on the
network, so the daemon's loop and the API can both feed it without interleaving.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace

from sentinel.correlate import Topology
from sentinel.correlate.grouping import TopologyCorrelator, failure_class
from sentinel.detect import Detector
from sentinel.metrics import Metrics
from sentinel.model import Alert, AlertStatus, Change, Incident, SampleBatch
from sentinel.tickets import Desk

log = logging.getLogger("sentinel.pipeline")
KEPT_INCIDENTS = 1000  # incidents whose copies and ranking inputs are kept between joins


class Pipeline:
    def __init__(
        self,
        detectors: Sequence[Detector],
        correlator: TopologyCorrelator,
        topology: Topology,
        desk: Desk,
        metrics: Metrics | None = None,
    ) -> None:
        self.detectors = tuple(detectors)
        self.correlator = correlator
        self.topology = topology
        self.desk = desk
        self.store = desk.store
        self.metrics = metrics
        self._incidents: dict[int, Incident] = {}  # the last copy of each incident seen
        self._fired: set[str] = set()  # fingerprints placed in this batch
        self._checked: set[int] = set()  # incidents whose copy was found current this batch
        # incident id -> (its updated_at when read, representatives by (node, failure class))
        self._kept: dict[int, tuple[float, dict[tuple[str, str], Alert]]] = {}

    def restore(self) -> None:
        """Give detectors the alerts still firing in the store, so they resume, not refire."""
        active = self.store.firing_alerts()
        for detector in self.detectors:
            detector.restore(active)

    def expire(self, now: float) -> None:
        """Resolve pushed alerts whose sender stopped re-sending them (Alertmanager's
        ``resolve_timeout`` semantics: a firing alert's ``ends_at`` is its expiry)."""
        expired = self.store.expired_alerts(now)
        self.alerts([replace(a, status=AlertStatus.RESOLVED) for a in expired], now)

    def samples(self, batch: SampleBatch, now: float) -> None:
        changes = [alert for d in self.detectors for alert in d.observe(batch, now)]
        self.alerts(changes, now)

    def alerts(self, alerts: Sequence[Alert], now: float) -> None:
        """Handle a batch: alerts already firing are refreshed together; each new one is
        placed by correlation; resolutions go to the desk."""
        self._fired, self._checked = set(), set()
        with self.store.transaction():
            firing = [a for a in alerts if a.status == AlertStatus.FIRING]
            new = {a.fingerprint for a in self.store.refresh_alerts(firing, now)} if firing else ()
            # In onset order, so a cause is placed before the symptoms that follow it.
            for alert in sorted(alerts, key=lambda a: a.starts_at):
                self._handle(alert, alert.fingerprint in new, now)

    def _handle(self, alert: Alert, is_new: bool, now: float) -> None:
        if self.metrics and (is_new or alert.status == AlertStatus.RESOLVED):
            self.metrics.alerts.labels(alert.status.value).inc()
        if alert.status == AlertStatus.FIRING:
            if is_new:
                self._fire(alert, now)
        else:
            log.debug("alert resolved name=%s labels=%s", alert.name, dict(alert.labels))
            # A resolution may change an incident within the same ``now`` as a join.
            self._kept.clear()
            self._incidents.clear()
            self._fired.discard(alert.fingerprint)
            changes = self._recent_changes(now)
            self.desk.alert_resolved(
                alert, lambda alerts: self.correlator.rank(alerts, changes), now
            )

    def _fire(self, alert: Alert, now: float) -> None:
        if alert.fingerprint in self._fired:
            return  # the same new alert twice in one batch
        self._fired.add(alert.fingerprint)
        log.debug("alert firing name=%s labels=%s", alert.name, dict(alert.labels))
        correlator = self.correlator
        node, scope = correlator.node(alert), correlator.scope(correlator.node(alert))
        group_key = correlator.group_key(alert)
        candidates = self.store.open_incidents_in_scope(scope, "" if scope else group_key)
        chosen = correlator.place(alert, candidates, now)
        if chosen is None:
            flapped = self.store.recently_resolved_incident(
                alert.fingerprint, now - correlator.config.window
            )
            if flapped is not None:
                self.desk.reopen(self._incident(flapped), alert, now, node, group_key)
                self._incidents.pop(flapped, None)  # the desk changed it: read it afresh
                self._checked.discard(flapped)
                return
            causes = correlator.rank([alert], self._recent_changes(now))
            policy = self.topology.policy(causes[0].node if causes else node)
            self.desk.open_incident(
                alert, (node,), self._tiers((node,)), causes, policy, now, node, group_key
            )
            return
        incident = self._incident(chosen)
        if node in incident.services:  # same ranking, same scope: just one more alert
            updated = self.desk.attach(
                incident, alert, incident.services, [], incident.root_causes, now, node, group_key
            )
            self._joined(updated, alert)
            return
        representatives = self._representatives(incident)
        causes = correlator.rank([*representatives.values(), alert], self._recent_changes(now))
        services = tuple(sorted({*incident.services, node}))
        updated = self.desk.attach(
            incident, alert, services, self._tiers(services), causes, now, node, group_key
        )
        self._joined(updated, alert)

    def _representatives(self, incident: Incident) -> dict[tuple[str, str], Alert]:
        """The earliest firing alert per node and failure class of an incident, which
        ranking reads each time a service joins: kept between joins (a storm's incident
        gains one service after another) and read again whenever the incident changed
        in a way this pipeline did not see (its ``updated_at`` moved)."""
        kept = self._kept.get(incident.id)
        if kept is None or kept[0] != incident.updated_at:
            alerts = self.store.node_representatives(incident.id)
            kept = (incident.updated_at, {self._key(a): a for a in alerts})
            if len(self._kept) >= KEPT_INCIDENTS:
                self._kept.clear()
            self._kept[incident.id] = kept
        return kept[1]

    def _joined(self, incident: Incident, alert: Alert) -> None:
        """An alert joined ``incident`` (as the desk left it): keep both copies current."""
        self._incidents[incident.id] = incident
        kept = self._kept.get(incident.id)
        if kept is None:
            return
        alerts = kept[1]
        key = self._key(alert)
        if key not in alerts or alert.starts_at < alerts[key].starts_at:
            alerts[key] = alert
        self._kept[incident.id] = (incident.updated_at, alerts)

    def _key(self, alert: Alert) -> tuple[str, str]:
        return self.correlator.node(alert), failure_class(alert)

    def _incident(self, incident_id: int) -> Incident:
        """The incident, from the copy this pipeline last wrote if it is still current (a
        storm's alerts join the same incidents over and over)."""
        copy = self._incidents.get(incident_id)
        if copy is not None and (
            incident_id in self._checked  # nobody else writes while the batch's transaction runs
            or copy.updated_at == self.store.incident_updated_at(incident_id)
        ):
            self._checked.add(incident_id)
            return copy
        incident = self.store.incident(incident_id)
        assert incident is not None  # found in the same transaction
        if len(self._incidents) >= KEPT_INCIDENTS:
            self._incidents.clear()
        self._incidents[incident_id] = incident
        self._checked.add(incident_id)
        return incident

    def _recent_changes(self, now: float) -> list[Change]:
        """Changes recent enough to be suspects (``correlation.change_window``)."""
        return self.store.changes(since=now - self.correlator.config.change_window, until=now)

    def _tiers(self, services: Sequence[str]) -> list[int]:
        return [self.topology.tier(s) for s in services]
