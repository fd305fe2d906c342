"""detect → correlate → desk: what happens to one batch of samples or alerts.

Synchronous on purpose: each batch is handled in one store transaction that never waits on
the network, so the daemon's loop and the API can both feed it without interleaving. While
that transaction runs nobody else writes, so the pipeline reads the unresolved incidents
once and keeps that view current itself (reading again only the incidents the desk
changed in ways it cannot follow), from batch to batch for as long as nothing else wrote
to the store between them (``Store.write_mark``: this connection's changes, others'
commits); alerts that join incidents are ranked as they join, in memory, and written
together at the end of the batch.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from itertools import chain, groupby

from sentinel.correlate import Topology
from sentinel.correlate.base import Scope
from sentinel.correlate.grouping import TopologyCorrelator
from sentinel.correlate.ranking import Measure, measure
from sentinel.detect import Detector
from sentinel.metrics import Metrics
from sentinel.model import (
    Alert,
    AlertStatus,
    Change,
    Incident,
    OpenIncident,
    Placement,
    RootCause,
    SampleBatch,
)
from sentinel.tickets import Desk

log = logging.getLogger("sentinel.pipeline")
KEPT_INCIDENTS = 1000  # incidents whose copies and ranking inputs are kept between joins
# An incident of this many services keeps its ranking, ranked again by what joins; see ``_rank``.
RANKING_KEPT_FROM = 100
# What ranking reads of an incident: the earliest alert of each node, per measure.
Representatives = dict[str, dict[Measure, Alert]]


def _event_time(alert: Alert) -> float:
    """When an alert's change happened: its onset, or for a resolution its end."""
    if alert.status == AlertStatus.FIRING or alert.ends_at is None:
        return alert.starts_at
    return alert.ends_at


class OpenIncidents:
    """Unresolved incidents by likeliest root and by the services alerting in them, as read
    at the start of a batch and changed by the batch since: placing an alert looks only at
    the incidents with a root or a failing service within its scope."""

    def __init__(self, incidents: Sequence[OpenIncident]) -> None:
        self._by_id: dict[int, OpenIncident] = {}
        self._by_node: dict[str, set[int]] = defaultdict(set)
        for incident in incidents:
            self._index(incident)

    def _index(self, incident: OpenIncident) -> None:
        """Index an incident as read from the store, with services, onsets and times of
        healing of its own that ``note`` then adds to in place."""
        incident = replace(
            incident,
            services=set(incident.services),
            onsets=dict(incident.onsets),
            healed=dict(incident.healed),
        )
        self._by_id[incident.id] = incident
        for node in (incident.root, *incident.services):
            self._by_node[node].add(incident.id)

    def refresh(self, ids: Collection[int], fresh: Sequence[OpenIncident]) -> None:
        """Replace the incidents ``ids`` by ``fresh``, as read again after the desk changed
        them (those no longer open are not among it)."""
        for incident_id in ids:
            stale = self._by_id.pop(incident_id, None)
            if stale is not None:
                for node in (stale.root, *stale.services):
                    self._unindex(node, incident_id)
        for incident in fresh:
            self._index(incident)

    def _unindex(self, node: str, incident_id: int) -> None:
        """Only nodes with incidents stay listed: their number, kept from batch to batch,
        decides how ``in_scope`` looks."""
        ids = self._by_node.get(node)
        if ids is not None:
            ids.discard(incident_id)
            if not ids:
                del self._by_node[node]

    def alerts_ended(
        self,
        ids: Collection[int],
        now: float,
        states: Sequence[tuple[int, str, bool, float | None]],
    ) -> None:
        """Alerts of the incidents ``ids``, which still fire, ended at ``now``; ``states``
        has (incident, node, whether any of its alerts there fires, when its last there
        ended) as the store counts them, for the nodes they were on. The desk changed
        nothing else of them (a resolution never re-ranks): the rest stands."""
        for incident_id, node, firing, ended_at in states:
            healed = self._by_id[incident_id].healed
            assert isinstance(healed, dict)
            if firing or ended_at is None:
                healed.pop(node, None)
            else:
                healed[node] = ended_at
        for incident_id in ids:
            self._by_id[incident_id] = replace(self._by_id[incident_id], updated_at=now)

    def __contains__(self, incident_id: object) -> bool:
        return incident_id in self._by_id

    def in_scope(self, scope: Scope) -> list[OpenIncident]:
        """The incidents with their root or a service in ``scope``: looked up by the nodes
        in scope where they are fewer than the incidents' nodes; otherwise each incident
        is asked, its root first (beside a service thousands depend on, scope and the
        storm's incident both hold most of the graph, and its root is in scope)."""
        by_node = self._by_node
        if scope.at_most < len(by_node):
            ids = {i for node in scope for i in by_node.get(node, ())}
        else:
            ids = {
                i
                for i, incident in self._by_id.items()
                if incident.root in scope or scope.meets(incident.services)
            }
        return [self._by_id[i] for i in sorted(ids)]

    def note(
        self,
        incident: Incident,
        now: float,
        placed: Placement | None = None,
        causes: Sequence[RootCause] | None = None,
    ) -> None:
        """``incident`` gained a firing alert at ``now`` (opened, reopened or joined), the
        one ``placed`` if it has not been written to the incident yet, and ranked as
        ``causes`` if that is not written yet either.
        Its services and their times change in place: a wide storm's incident holds
        thousands, and each of its alerts would copy them all."""
        before = self._by_id.get(incident.id)
        if before is None:
            self._index(OpenIncident(incident.id, "", now, True, services=incident.services))
            before = self._by_id[incident.id]
        ranked = incident.root_causes if causes is None else causes
        root = ranked[0].node if ranked else ""
        started, node = (None, "") if placed is None else (placed.alert.starts_at, placed.node)
        times = [t for t in (incident.active_at, started, before.active_at) if t is not None]
        services, onsets, healed = before.services, before.onsets, before.healed
        assert isinstance(services, set) and isinstance(onsets, dict)
        assert isinstance(healed, dict)
        if node:
            services.add(node)
            self._by_node[node].add(incident.id)
            if started is not None:
                healed.pop(node, None)  # it fails again
                if started < onsets.get(node, started + 1):
                    onsets[node] = started
        if root != before.root and before.root not in services:
            self._unindex(before.root, incident.id)
        self._by_node[root].add(incident.id)
        began = incident.began_at if incident.began_at is not None else incident.created_at
        # Built, not ``replace``d: that reads the fields anew at each of a storm's alerts.
        self._by_id[incident.id] = OpenIncident(
            incident.id,
            root,
            now,
            True,
            began,
            max(times) if times else None,
            services,
            onsets,
            healed,
        )


@dataclass
class _Services:
    """An incident's services as a set, and their tiers, for the tuple they were made of
    (known by identity: the copy of the incident that holds it): a wide incident's
    thousands, which each batch hashed, looked up and compared again to add a few."""

    of: tuple[str, ...]
    names: set[str]
    tiers: list[int]


@dataclass
class _Join:
    """Alerts that joined an incident in this batch and are not written yet, with what
    they did to its ranking inputs (changed in place: a failed batch forgets them all,
    see ``Pipeline.alerts``)."""

    representatives: Representatives
    placed: list[Placement] = field(default_factory=list)
    joined: dict[str, None] = field(default_factory=dict)  # services new to it, in order
    causes: tuple[RootCause, ...] | None = None  # its ranking, if one of them changed it
    # Representatives added by joins that ranked alike, not yet handed to a kept ranking
    unranked: list[Alert] = field(default_factory=list)


class Pipeline:
    def __init__(
        self,
        detectors: Mapping[str, Detector],
        correlator: TopologyCorrelator,
        topology: Topology,
        desk: Desk,
        metrics: Metrics | None = None,
    ) -> None:
        self.detectors = dict(detectors)  # by kind
        self.correlator = correlator
        self.topology = topology
        self.desk = desk
        self.store = desk.store
        self.metrics = metrics
        self._counters = (
            None
            if metrics is None
            else tuple(
                metrics.alerts.labels(s.value) for s in (AlertStatus.FIRING, AlertStatus.RESOLVED)
            )
        )
        self._incidents: dict[int, Incident] = {}  # the last copy of each incident seen
        # incident id -> its representatives by node and measure; see ``_representatives``
        self._kept: dict[int, Representatives] = {}
        # Wide incidents whose kept ranking (``rank_added``) read their representatives as
        # kept here, all but what joined since; forgotten with them.
        self._ranked_kept: set[int] = set()
        self._services: dict[int, _Services] = {}  # see ``_services_of``
        self._moves_version = 0  # of the store's alert moves (merges, splits) kept up with
        # What one batch knows while its transaction runs (see the module's docstring):
        self._fired: set[str] = set()  # fingerprints placed
        self._resolved: set[str] = set()  # fingerprints resolved
        self._checked: set[int] = set()  # incidents whose copy was found current
        # The unresolved incidents, read on a batch's first placement and kept current by
        # the batches since, as long as nothing else wrote to the store (``write_mark``).
        self._open: OpenIncidents | None = None
        self._open_as_of = (0, 0, 0)
        self._joining: dict[int, _Join] = {}  # written by ``_join_pending``
        self._changes: list[Change] | None = None  # the recent changes, read when needed
        self._hints_version = 0  # of the grouping hints the correlator learned (none yet)

    def restore(self) -> None:
        """Give detectors what they had learned and the alerts still firing in the store, so
        they resume, not relearn and refire."""
        active = self.store.firing_alerts()
        for kind, detector in self.detectors.items():
            detector.load(self.store.learned(kind))
            detector.restore(active)

    def save_learned(self, now: float) -> None:
        """Keep what detectors have learned (the daemon does so now and then, and on stop)."""
        with self.store.transaction():
            for kind, detector in self.detectors.items():
                snapshot = detector.snapshot()
                if snapshot:
                    self.store.save_learned(kind, snapshot, now)

    def expire(self, now: float) -> None:
        """Resolve pushed alerts whose sender stopped re-sending them (Alertmanager's
        ``resolve_timeout`` semantics: a firing alert's ``ends_at`` is its expiry)."""
        expired = self.store.expired_alerts(now)
        self.alerts([a.replace(status=AlertStatus.RESOLVED) for a in expired], now)

    def samples(self, batch: SampleBatch, now: float) -> None:
        changes = [alert for d in self.detectors.values() for alert in d.observe(batch, now)]
        self.alerts(changes, now)

    def alerts(self, alerts: Sequence[Alert], now: float) -> None:
        """Handle a batch: alerts already firing are refreshed together; each new one is
        placed by correlation; resolutions go to the desk. A batch with nothing in it (most
        polls) takes no write lock, so it never waits on another process's transaction."""
        if not alerts:
            return
        self._fired, self._checked, self._joining = set(), set(), {}
        self._resolved, self._changes = set(), None
        try:
            with self.store.transaction():
                if self._open is not None and self.store.write_mark() != self._open_as_of:
                    self._open = None  # written to since the last batch: read again
                self._handle(alerts, now)
                # Taken while this transaction holds the write lock: nobody wrote meanwhile.
                self._open_as_of = self.store.write_mark()
        except BaseException:
            # They may hold what the rolled-back transaction never wrote.
            self._kept.clear()
            self._ranked_kept.clear()
            self._services.clear()
            self._open = None
            raise

    def _handle(self, alerts: Sequence[Alert], now: float) -> None:
        firing = [a for a in alerts if a.status == AlertStatus.FIRING]
        new = {a.fingerprint for a in self.store.refresh_alerts(firing, now)} if firing else ()
        self._count(len(new), len(alerts) - len(firing))
        ended = {a.fingerprint for a in alerts if a.status != AlertStatus.FIRING}
        if not new and not ended:
            return  # all refreshed: the usual push, a sender re-sending what fires
        self._follow_moves()
        if new:
            self._learn()
        # What a refresh did not settle: new alerts, resolutions, and firing copies of
        # what resolves in the batch too (a flap). In the order they happened, so a cause
        # is placed before the symptoms that follow it and ends after those it outlived.
        changing = [a for a in alerts if a.fingerprint in new or a.fingerprint in ended]
        ordered = sorted(changing, key=_event_time)
        for resolving, run in groupby(ordered, key=lambda a: a.status != AlertStatus.FIRING):
            if resolving:
                self._resolve(list(run), now)
                continue
            for alert in run:
                if alert.fingerprint in new:
                    self._fire(alert, now)
                elif alert.fingerprint in self._resolved:  # a flap sent in one batch
                    self._count(1, 0)
                    self._fire(alert, now)
        self._join_pending(now)

    def _learn(self) -> None:
        """Placement follows operators' regroupings (the CLI records them): read again
        whenever they changed."""
        version = self.store.grouping_hints_version()
        if version != self._hints_version:
            self.correlator.learn(self.store.grouping_hints())
            self._hints_version = version

    def _follow_moves(self) -> None:
        """Representatives change only as alerts join, which this pipeline writes, or move
        between incidents (a merge or split, by hand): forget them all when any moved."""
        version = self.store.alerts_moves_version()
        if version != self._moves_version:
            self._kept.clear()
            self._ranked_kept.clear()
            self._moves_version = version

    def _count(self, fired: int, resolved: int) -> None:
        """Count alert transitions on the labelled counters looked up once (a lookup takes
        a lock and checks the labels: per batch, more than the count itself)."""
        if self._counters is not None:
            if fired:
                self._counters[0].inc(fired)
            if resolved:
                self._counters[1].inc(resolved)

    def _resolve(self, ended: list[Alert], now: float) -> None:
        """Resolutions next to each other in that order go to the desk together: a healed
        fault's alerts end at once, and each incident is resolved or marked updated once."""
        log.debug("%d alerts resolved", len(ended))
        fingerprints = {a.fingerprint for a in ended}
        if self._joining:
            # Those the desk is to find written: the incidents the alerts were in, and
            # those they joined in this batch. Other incidents' joins wait to be written
            # together with what joins them next.
            held = self.store.firing_alert_incidents(fingerprints)
            if not fingerprints.isdisjoint(self._fired):  # some began in this batch
                held.update(
                    incident_id
                    for incident_id, join in self._joining.items()
                    if any(p.alert.fingerprint in fingerprints for p in join.placed)
                )
            self._join_pending(now, [i for i in self._joining if i in held])
        self._fired -= fingerprints
        self._resolved |= fingerprints
        changed = self.desk.alerts_resolved(ended, now)
        for incident_id, still_firing in changed.items():
            copy = self._incidents.get(incident_id)
            if still_firing and copy is not None and incident_id in self._checked:
                # Only marked updated: a storm's incident loses an alert at a time, and
                # was read again after each.
                self._incidents[incident_id] = replace(copy, updated_at=now)
            else:  # resolved: read afresh
                self._incidents.pop(incident_id, None)
                self._checked.discard(incident_id)
        self._alerts_ended(changed, {self.correlator.node(a) for a in ended}, now)

    def _fire(self, alert: Alert, now: float) -> None:
        if alert.fingerprint in self._fired:
            return  # the same new alert twice in one batch
        self._fired.add(alert.fingerprint)
        log.debug("alert firing labels=%s", alert.labels)
        correlator = self.correlator
        node = correlator.node(alert)
        scope = correlator.scope(node)
        # Only alerts outside the topology group by labels (and are found by their key).
        group_key = "" if scope else correlator.group_key(alert)
        if scope:
            if self._open is None:
                self._open = OpenIncidents(self.store.open_incidents())
            candidates = self._open.in_scope(scope)
        else:
            self._join_pending(now)  # the query below reads the alerts' group keys
            candidates = self.store.open_incidents(group_key)
        chosen = correlator.place(alert, candidates, now)
        if chosen is None:
            self._open_or_reopen(Placement(alert, node, group_key), now)
            return
        incident = self._incident(chosen)
        join = self._joining.get(chosen)
        if join is None:
            join = self._joining[chosen] = _Join(self._representatives(incident))
        self._add(incident, join, Placement(alert, node, group_key), now)

    def _add(self, incident: Incident, join: _Join, placement: Placement, now: float) -> None:
        """An alert joins ``incident``: ranked at once, in memory, where it may change the
        ranking (a service joined, or a measure that reads differently), so the batch's
        next alerts are placed as they would be had it come alone; written with the
        batch's other joins (``_join_pending``). Writing each join that re-ranked, and
        ranking a wide incident only once a batch, placed a backlog differently."""
        node = placement.node
        fresh = node not in join.joined and node not in self._services_of(incident).names
        reranks = fresh or self._reranks(join.representatives, placement)
        added, replaced = self._keep_earliest(join.representatives, [placement])
        join.placed.append(placement)
        join.unranked += added
        if fresh:
            join.joined[node] = None
        if reranks:
            join.causes = self._rank(
                incident.id, join.representatives, join.unranked, replaced, now
            )
            join.unranked = []
        if self._open is not None:
            self._open.note(incident, now, placement, join.causes)

    def _open_or_reopen(self, placement: Placement, now: float) -> None:
        """A new incident, unless the alert's last incident resolved within ``window`` (a
        flap, or a fix that did not hold): then that one reopens."""
        alert, node, group_key = placement
        window = self.correlator.config.window
        flapped = self.store.recently_resolved_incident(alert.fingerprint, alert.starts_at - window)
        if flapped is not None:
            incident = self._incident(flapped)
            self.desk.reopen(incident, alert, now, node, group_key)
            # The desk changed it, perhaps within the same ``now`` as its resolution, which
            # ``updated_at`` cannot tell: read it and its services' onsets (which its earlier
            # alerts set) afresh. Its representatives stand: the alert fired in it before.
            self._incidents.pop(flapped, None)
            self._checked.discard(flapped)
            self._reread_open([flapped])
            return
        causes = self.correlator.rank([alert], self._recent_changes(now))
        policy = self.topology.policy(causes[0].node if causes else node)
        opened = self.desk.open_incident(
            alert, (node,), self.topology.tiers((node,)), causes, policy, now, node, group_key
        )
        if self._open is not None:
            self._open.note(opened, now, placement)
        # Kept to check, not as current: the desk may have changed it once it read it.
        self._keep_copy(opened)

    def _join_pending(self, now: float, only: Collection[int] | None = None) -> None:
        """Write the alerts that joined incidents since the last call (or those joining
        ``only`` these), as ranked when they joined: one insert and one update per
        incident."""
        if only is None:
            joining, self._joining = self._joining, {}
        else:
            joining = {i: self._joining.pop(i) for i in only if i in self._joining}
        for incident_id, join in joining.items():
            incident = self._incident(incident_id)
            services, tiers = incident.services, []
            held = self._services_of(incident)
            if join.joined:
                # Two sorted runs, merged in one pass: sorting the union anew took a wide
                # incident's ten thousand names a millisecond and a half at every batch.
                services = tuple(sorted([*services, *sorted(join.joined)]))
                held.names.update(join.joined)
                held.tiers += self.topology.tiers(join.joined)  # in any order: impact reads none
                tiers = held.tiers
            if join.unranked:
                self._ranked_kept.discard(incident_id)  # what it read changed unseen
            causes = incident.root_causes if join.causes is None else join.causes
            updated = self.desk.attach(
                incident, join.placed, services, tiers, causes, now, join.joined
            )
            held.of = updated.services
            self._joined(updated, join.representatives, now)

    def _services_of(self, incident: Incident) -> _Services:
        held = self._services.get(incident.id)
        if held is None or held.of is not incident.services:
            if len(self._services) >= KEPT_INCIDENTS:
                self._services.clear()
            services = incident.services
            held = _Services(services, set(services), self.topology.tiers(services))
            self._services[incident.id] = held
        return held

    def _rank(
        self,
        incident_id: int,
        representatives: Representatives,
        added: list[Alert],
        replaced: bool,
        now: float,
    ) -> tuple[RootCause, ...]:
        """An incident's ranking once alerts joined it. A wide one's is kept, and ranked
        again by what joined (``added``) where its ranking read all the rest, as given
        last time: it holds thousands, and listing them at each join for the ranking to
        find the new one among grew with the square of a storm beside a hub."""
        changes = self._recent_changes(now)
        wide = len(representatives) >= RANKING_KEPT_FROM  # nodes, those joining too
        if wide and not replaced and incident_id in self._ranked_kept:
            causes = self.correlator.rank_added(incident_id, added, changes)
            if causes is not None:
                return causes
        causes = self.correlator.rank(
            list(chain.from_iterable(map(dict.values, representatives.values()))),
            changes,
            kept_as=incident_id if wide else None,  # ranked again as services join
        )
        if wide:
            self._ranked_kept.add(incident_id)
        return causes

    def _reranks(self, held: Representatives, placement: Placement) -> bool:
        """Whether an alert joining an incident whose ranking read ``held`` may change that
        ranking: a measure of its node the ranking has not read, which reads differently."""
        alert, node, _ = placement
        of_node = held.get(node, {})
        earliest = of_node.get(measure(alert))
        if earliest is not None:  # a further instance: ranking reads the measure's earliest
            return alert.starts_at < earliest.starts_at
        return not self.correlator.ranks_alike(list(of_node.values()), alert)

    def _alerts_ended(self, changed: Mapping[int, bool], nodes: set[str], now: float) -> None:
        """Alerts on ``nodes`` ended in the incidents ``changed`` (each with whether it
        still fires): those that still fire and are in view learn which services healed
        from the store's counts of those nodes alone; the rest are read again. Reading a
        wide incident again took all its thousands of services at every run of
        resolutions while its storm healed."""
        if self._open is None:
            return
        firing = sorted(i for i, still in changed.items() if still and i in self._open)
        if firing:
            self._open.alerts_ended(firing, now, self.store.service_states(firing, nodes))
        self._reread_open([i for i in changed if i not in firing])

    def _reread_open(self, changed: Collection[int]) -> None:
        """The desk changed these incidents in ways placement cannot follow (alerts
        stopped, an incident resolved or reopened): read them again, not all of them."""
        if self._open is not None and changed:
            self._open.refresh(changed, self.store.open_incidents(ids=sorted(changed)))

    def _representatives(self, incident: Incident) -> Representatives:
        """The earliest alert per node and measure of an incident (firing or not), which
        ranking reads each time a service joins: kept between joins (a storm's incident
        gains one service after another), whatever else changes the incident (escalations,
        acknowledgements, resolutions), and read again only after alerts moved between
        incidents: reading them is a pass over all the incident's alerts."""
        kept = self._kept.get(incident.id)
        if kept is None:
            kept = {}
            earliest = self.store.node_representatives(incident.id)
            self._keep_earliest(kept, [Placement(alert, node) for node, alert in earliest])
            if len(self._kept) >= KEPT_INCIDENTS:
                self._kept.clear()
                self._ranked_kept.clear()
            self._kept[incident.id] = kept
            self._ranked_kept.discard(incident.id)
        return kept

    def _joined(
        self,
        incident: Incident,
        representatives: Representatives,
        now: float,
    ) -> None:
        """Alerts joined ``incident`` (as the desk left it): keep the copies current, with
        its representatives (they include the alerts that joined)."""
        self._incidents[incident.id] = incident
        if self._open is not None:
            self._open.note(incident, now)
        self._kept[incident.id] = representatives

    @staticmethod
    def _keep_earliest(
        representatives: Representatives, placed: Sequence[Placement]
    ) -> tuple[list[Alert], bool]:
        """Keep each node's earliest alert per measure; returns the alerts that became
        representatives of a node and measure it had none of, and whether any replaced
        an earlier one's place."""
        added: dict[tuple[str, Measure], Alert] = {}
        replaced = False
        for alert, node, _ in placed:
            of_node, kind = representatives.setdefault(node, {}), measure(alert)
            held = of_node.get(kind)
            if held is None or alert.starts_at < held.starts_at:
                of_node[kind] = alert
                if held is not None and (node, kind) not in added:
                    replaced = True
                added[node, kind] = alert
        return list(added.values()), replaced

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
        self._keep_copy(incident)
        self._checked.add(incident_id)
        return incident

    def _keep_copy(self, incident: Incident) -> None:
        if len(self._incidents) >= KEPT_INCIDENTS:
            self._incidents.clear()
        self._incidents[incident.id] = incident

    def _recent_changes(self, now: float) -> list[Change]:
        """Changes recent enough to be suspects (``correlation.change_window``), read once
        per batch: nobody else writes while its transaction runs."""
        if self._changes is None:
            window = self.correlator.config.change_window
            self._changes = self.store.changes(since=now - window, until=now)
        return self._changes
