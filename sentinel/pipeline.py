"""detect → correlate → desk: what happens to one batch of samples or alerts.

Synchronous on purpose: each alert is handled in store transactions that never wait on the
network, so the daemon's loop and the API can both feed it without interleaving.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace

from sentinel.correlate import Topology
from sentinel.correlate.grouping import TopologyCorrelator
from sentinel.detect import Detector
from sentinel.metrics import Metrics
from sentinel.model import Alert, AlertStatus, Change, Incident, SampleBatch
from sentinel.tickets import Desk

log = logging.getLogger("sentinel.pipeline")


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
            changes = self._recent_changes(now)
            self.desk.alert_resolved(
                alert, lambda alerts: self.correlator.rank(alerts, changes), now
            )

    def _fire(self, alert: Alert, now: float) -> None:
        if self.store.firing_alert_incident(alert.fingerprint) is not None:
            return  # the same new alert twice in one batch
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
                return
            causes = correlator.rank([alert], self._recent_changes(now))
            policy = self.topology.policy(causes[0].node if causes else node)
            self.desk.open_incident(
                alert, (node,), self._tiers((node,)), causes, policy, now, node, group_key
            )
            return
        incident = self._incident(chosen)
        if node in incident.services:  # same ranking, same scope: just one more alert
            self.desk.attach(
                incident, alert, incident.services, [], incident.root_causes, now, node, group_key
            )
            return
        causes = correlator.rank(
            [*self.store.node_representatives(chosen), alert], self._recent_changes(now)
        )
        services = tuple(sorted({*incident.services, node}))
        self.desk.attach(
            incident, alert, services, self._tiers(services), causes, now, node, group_key
        )

    def _incident(self, incident_id: int) -> Incident:
        incident = self.store.incident(incident_id)
        assert incident is not None  # found in the same transaction
        return incident

    def _recent_changes(self, now: float) -> list[Change]:
        """Changes recent enough to be suspects (``correlation.change_window``)."""
        return self.store.changes(since=now - self.correlator.config.change_window, until=now)

    def _tiers(self, services: Sequence[str]) -> list[int]:
        return [self.topology.tier(s) for s in services]
