"""Alert storms on random service topologies with known causes: grouping, ranking, speed.

    pip install '.[bench]'   # scikit-learn, for the adjusted Rand index
    python benchmarks/alert_storm.py [--sizes 100 1000 10000] [--faults-per-100 2] [--seed 7]
                                     [--repeat 3] [--seeds 5] [--sensitivity 1000]

For each size a random layered dependency graph is generated (each service depends on one
to three services in lower layers). Faults are injected at random services and times; each
spreads to the services that depend on the faulty one, hop by hop with a random delay and
probability, for up to three hops; every instance of a failing service (one to eight)
raises one or two alerts, some of which flap (fire, resolve, fire again). Unrelated
failures of single services are sprinkled in as noise, each its own truth group. Faults
heal after a few minutes and their alerts resolve. These are the defaults of ``Shape``;
``--sensitivity SIZE`` runs the same method on other shapes (slower and faster hops,
wider and narrower spread, fewer replicas, shorter faults, and alerts that begin and end
at 15 s rule evaluations, as Prometheus reports them, sharing onsets) and prints a table
of them.

The stream goes through sentinel's real pipeline (detect → correlate → desk, SQLite store on
disk) on the simulated clock, in five-second batches as rule evaluations send them; the
largest stream runs again in five-minute batches, as a webhook behind Alertmanager hears of
its groups (``group_interval``), and must group the same. Reported against the truth:

* compression = 1 − incidents / alerts (every firing counts as an alert, re-fires too),
  next to its ceiling for the stream: one incident per fault and per noise failure;
* adjusted Rand index of the incidents against the faults (scikit-learn), and in brackets
  against the faults with overlaps joined: faults failing one service at the same time
  count as one, since which of them that service's alerts belong to is a guess (an alert
  firing for both is one alert);
* root-cause top-1: the incident holding the first alert on a fault's root service (the one
  it last joined, if that alert is between two flaps) names that service first, read 15 s
  after the fault reached its last service (the batch under way is sent then);
* named at the end: that incident, once every alert has resolved, still names the fault's
  root service first (its signature, under which recurrences fold into a problem record);
* throughput: alert events (firing and resolved) handled per second of wall time spent in
  sentinel's pipeline calls, the fastest of ``--repeat`` replays of the stream (which must
  group and rank alike); the harness's own reading of rankings and the Alertmanager
  baseline are left out (the share of the loop they take is printed), and the share of it
  spent in durable commits is printed from the daemon's ``sentinel_store_commit_seconds``,
  with the two bounds it sets: the rate were the commits all the pipeline did, and were
  they free (no faster rate is reached at that batch size without cutting both).
  As ``sentinel run`` does once it has built the daemon, each replay freezes what exists
  then (``gc.freeze``: the topology, and here the stream), out of the collector's walks.
  Beside it, the store's floor: the same batches written as alert rows alone (inserted,
  refreshed, resolved) through the store's calls, one durable transaction each, with no
  correlation, incident or desk (``store_floor``): no logic on this store beats it.

Alertmanager's grouping over the same stream (one group per ``group_by`` label set while
any of its alerts fires) is scored in the same run as the baseline. A second table gives
the mean and worst of compression (as the margin over its ceiling), ARI and top-1 over
``--seeds`` streams per size: one draw of topology and faults is not the method.
"""

from __future__ import annotations

import argparse
import gc
import math
import random
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console
from rich.table import Table
from sklearn.metrics import adjusted_rand_score

from sentinel.config import Config
from sentinel.correlate import ServiceConfig
from sentinel.daemon import Daemon
from sentinel.model import Alert, AlertStatus, Incident, IncidentStatus, Placement
from sentinel.store import Store

FAILURES = ("HighLatency", "ErrorRate", "Down", "Saturation")
SYMPTOMS = ("UpstreamErrors", "HighLatency", "ErrorRate", "QueueBacklog")
EVALUATION = 5.0  # alerts reach sentinel in batches, as rule evaluations send them
# A webhook behind Alertmanager hears of a group at most every ``group_interval`` (5 min by
# default): the same stream in such batches must group the same way.
LATE_BATCH = 300.0
PROBE_AFTER = 15.0  # a fault's ranking is read this long after it reached its last service


@dataclass(frozen=True)
class Shape:
    """How faults spread and alert. The defaults make the main tables; ``--sensitivity``
    runs the same method on other shapes, so no figure rests on one choice of them."""

    delay: tuple[float, float] = (5.0, 45.0)  # seconds a hop takes
    spread: float = 0.6  # chance that a dependant of a failing service fails too
    hops: int = 3
    instances: int = 8  # replicas per service, 1 to this many
    heal: tuple[float, float] = (180.0, 480.0)  # seconds until the root recovers
    # Seconds between rule evaluations, where alerts begin and end as Prometheus reports
    # them (at the evaluation that found the change), sharing onsets; 0: each its own.
    evaluation: float = 0.0

    def found(self, at: float) -> float:
        """When an evaluation finds a change that happened ``at``."""
        return self.evaluation * math.ceil(at / self.evaluation) if self.evaluation else at

    def __str__(self) -> str:
        changed = [
            f"{name} {_shown(value)}"
            for name, value in vars(self).items()
            if value != getattr(DEFAULT_SHAPE, name)
        ]
        return ", ".join(changed) or "defaults"


def _shown(value: object) -> str:
    """A shape's setting as the table prints it.

    >>> _shown((5.0, 120.0)), _shown(0.9)
    ('5–120', '0.9')
    """
    if isinstance(value, tuple):
        return "–".join(f"{v:g}" for v in value)
    return f"{value:g}"


DEFAULT_SHAPE = Shape()
# Slower and faster propagation, wider and narrower, fewer replicas, shorter faults, and
# onsets shared at rule evaluations.
SHAPES = (
    DEFAULT_SHAPE,
    Shape(delay=(5.0, 120.0)),
    Shape(delay=(1.0, 10.0)),
    Shape(spread=0.9, hops=4),
    Shape(spread=0.3),
    Shape(instances=2),
    Shape(heal=(60.0, 180.0)),
    Shape(evaluation=15.0),
)


@dataclass(order=True)
class Event:
    at: float
    order: int
    alert: Alert | None = field(compare=False, default=None)
    truth: str = field(compare=False, default="")
    probe: str = field(compare=False, default="")  # a fault whose ranking is read here


def topology(size: int, rng: random.Random) -> list[ServiceConfig]:
    """Layered services: each depends on one to three services of lower layers."""
    layers = max(3, round(size**0.25) + 2)
    names = [f"svc-{i}" for i in range(size)]
    layer_of = sorted(rng.randrange(layers) for _ in names)
    by_layer: dict[int, list[str]] = defaultdict(list)
    for name, layer in zip(names, layer_of, strict=True):
        by_layer[layer].append(name)
    services = []
    for name, layer in zip(names, layer_of, strict=True):
        below = [n for low in range(layer + 1, min(layer + 3, layers)) for n in by_layer[low]]
        depends = rng.sample(below, k=min(len(below), rng.randint(1, 3))) if below else []
        services.append(ServiceConfig(name=name, tier=rng.choice((1, 2, 3)), depends_on=depends))
    return services


Span = tuple[str, float, float]  # a service failing, from when until when


def scenario(
    services: list[ServiceConfig], faults: int, rng: random.Random, shape: Shape = DEFAULT_SHAPE
) -> tuple[list[Event], dict[str, str], dict[str, list[Span]]]:
    """The alert stream, in time order, each fault's injected root service, and where and
    when each fault and noise alert made services fail."""
    dependants: dict[str, list[str]] = defaultdict(list)
    for service in services:
        for dependency in service.depends_on:
            dependants[dependency].append(service.name)
    names = [s.name for s in services]
    instances = {name: rng.randint(1, shape.instances) for name in names}
    span = faults * 120.0  # a few faults under way at any time
    events: list[Event] = []
    roots: dict[str, str] = {}
    spans: dict[str, list[Span]] = defaultdict(list)
    counter = iter(range(10**9))

    def emit(at: float, alert: Alert, truth: str) -> None:
        events.append(Event(at, next(counter), alert, truth))

    def raise_alerts(node: str, at: float, until: float, names_: tuple[str, ...], truth: str):
        """Every instance of a failing service alerts, on one or two conditions."""
        spans[truth].append((node, at, until))
        conditions = rng.sample(names_, k=rng.randint(1, 2))
        for instance in range(instances[node]):
            for condition in conditions:
                labels = {
                    "alertname": condition,
                    "service": node,
                    "instance": f"{node}-{instance}",
                    "severity": rng.choice(("critical", "warning")),
                }
                summary = {"summary": f"{condition} on {node}"}
                first = at + rng.uniform(0, 10)
                alert = Alert(labels, summary, AlertStatus.FIRING, first)
                flaps = rng.random() < 0.1
                start = first
                for _ in range(3 if flaps else 1):
                    end = min(until, start + 20.0) if flaps else until
                    began, ended = shape.found(start), shape.found(end)
                    emit(began, alert.replace(starts_at=began), truth)
                    resolved = alert.replace(
                        status=AlertStatus.RESOLVED, starts_at=began, ends_at=ended
                    )
                    emit(ended, resolved, truth)
                    start = end + 20.0
                    if start >= until:
                        break

    for number in range(faults):
        truth = f"fault-{number}"
        root = rng.choice(names)
        roots[truth] = root
        begin = rng.uniform(0, span)
        heal = begin + rng.uniform(*shape.heal)
        failing = {root: begin}
        frontier = [root]
        for _ in range(shape.hops):
            reached = []
            for node in frontier:
                for up in dependants[node]:
                    if up not in failing and rng.random() < shape.spread:
                        failing[up] = failing[node] + rng.uniform(*shape.delay)
                        reached.append(up)
            frontier = reached
        for node, at in failing.items():
            raise_alerts(
                node, at, heal + rng.uniform(0, 30), FAILURES if node == root else SYMPTOMS, truth
            )
        # After its last alerts began (up to 10 s after the service failed, as an
        # evaluation found them).
        last = shape.found(max(failing.values()) + 10.0) - 10.0
        events.append(Event(last + PROBE_AFTER, next(counter), probe=truth))
    for number in range(max(1, faults // 5)):
        at = rng.uniform(0, span)
        raise_alerts(
            rng.choice(names),
            at,
            at + rng.uniform(60, 300),
            ("DiskFull", "CertExpiry"),
            f"noise-{number}",
        )
    events.sort()
    return events, roots, spans


def overlaps_joined(spans: dict[str, list[Span]]) -> dict[str, str]:
    """Each fault's group once faults failing one service at the same time are joined:
    which of them that service's alerts belong to is a guess."""
    group = {truth: truth for truth in spans}

    def find(truth: str) -> str:
        while group[truth] != truth:
            group[truth] = group[group[truth]]
            truth = group[truth]
        return truth

    by_node: dict[str, list[tuple[float, float, str]]] = defaultdict(list)
    for truth, failing in spans.items():
        for node, begin, end in failing:
            by_node[node].append((begin, end, truth))
    for intervals in by_node.values():
        intervals.sort()
        for i, (begin, _, truth) in enumerate(intervals):
            for _, end, other in intervals[:i]:
                if end > begin:
                    group[find(truth)] = find(other)
    return {truth: find(truth) for truth in spans}


@dataclass
class Grouping:
    """Alertmanager's aggregation groups over the stream: one per ``group_by`` label set,
    a new one when a set fires again after all its alerts resolved."""

    by: tuple[str, ...]
    active: dict[tuple, set[str]] = field(default_factory=lambda: defaultdict(set))
    current: dict[tuple, int] = field(default_factory=dict)
    groups: int = 0

    def see(self, alert: Alert) -> int | None:
        key = tuple(alert.labels.get(name, "") for name in self.by)
        if alert.status == AlertStatus.RESOLVED:
            self.active[key].discard(alert.fingerprint)
            return None
        if not self.active[key]:
            self.groups += 1
            self.current[key] = self.groups
        self.active[key].add(alert.fingerprint)
        return self.current[key]


def run(
    size: int,
    faults: int,
    seed: int,
    evaluation: float = EVALUATION,
    shape: Shape = DEFAULT_SHAPE,
) -> dict[str, float]:
    rng = random.Random(seed)
    services = topology(size, rng)
    events, roots, spans = scenario(services, faults, rng, shape)
    joined = overlaps_joined(spans)
    baselines = {by: Grouping(by) for by in (("alertname",), ("alertname", "service"))}
    baseline_labels: dict[tuple[str, ...], list[int]] = {by: [] for by in baselines}
    truth_labels: list[str] = []
    firings: list[str] = []  # the fingerprint of every firing, in order
    first_alert: dict[str, str] = {}
    ranked_top: dict[str, str] = {}
    firing_now: set[str] = set()
    duplicates: list[bool] = []
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp) / "sentinel.db")
        daemon = Daemon(Config(services=services), store, clock=lambda: 0.0)
        gc.freeze()  # as ``sentinel run`` does once it has built the daemon
        pipeline = daemon.pipeline
        commits_before = _commits(daemon)
        started = time.perf_counter()
        handled = 0
        batch: list[Alert] = []
        batch_end = evaluation
        batches, in_pipeline = 0, 0.0
        sent: list[tuple[float, list[Alert]]] = []  # for the store's floor, batch by batch

        def flush() -> None:
            nonlocal batches, in_pipeline
            if batch:
                entered = time.perf_counter()
                pipeline.alerts(batch, now=batch_end)
                in_pipeline += time.perf_counter() - entered
                batches += 1
                sent.append((batch_end, list(batch)))
                batch.clear()

        for event in events:
            while event.at >= batch_end:
                flush()
                batch_end += evaluation
            if event.probe:
                flush()
                incident_id = _incident_holding(store, first_alert.get(event.probe, ""))
                incident = store.incident(incident_id) if incident_id else None
                if incident and incident.root_causes:
                    ranked_top[event.probe] = incident.root_causes[0].node
                continue
            alert = event.alert
            assert alert is not None
            batch.append(alert)
            handled += 1
            for by, grouping in baselines.items():
                group = grouping.see(alert)
                if group is not None:
                    baseline_labels[by].append(group)
            if alert.status == AlertStatus.RESOLVED:
                firing_now.discard(alert.fingerprint)
            else:
                # Firing again while it fires (two faults on one instance) is deduplicated.
                duplicates.append(alert.fingerprint in firing_now)
                firing_now.add(alert.fingerprint)
                if alert.labels["service"] == roots.get(event.truth):
                    first_alert.setdefault(event.truth, alert.fingerprint)
                truth_labels.append(event.truth)
                firings.append(alert.fingerprint)
        flush()
        elapsed = time.perf_counter() - started
        (commits_then, committed_then), (commits, committing) = commits_before, _commits(daemon)
        commits, committing = commits - commits_then, committing - committed_then
        signed = sum(
            _named_at_the_end(store, first_alert.get(f, "")) == r for f, r in roots.items()
        )
        incident_of = _incident_of_each_firing(store, firings, duplicates)
        incidents = store.count("incidents")
        store.close()
        gc.unfreeze()  # this run's objects are the next one's garbage
    alerts = len(firings)
    figures = {
        "services": size,
        "batch": evaluation,
        "faults": len(roots),
        "noise": len(spans) - len(roots),
        "alerts": alerts,
        "incidents": incidents,
        "compression": 1 - incidents / alerts,
        "ceiling": 1 - len(set(truth_labels)) / alerts,
        "ari": adjusted_rand_score(truth_labels, incident_of),
        "ari_overlaps": adjusted_rand_score([joined[t] for t in truth_labels], incident_of),
        "overlapping": sum(n for n in Counter(joined.values()).values() if n > 1),
        "top1": sum(ranked_top.get(f) == root for f, root in roots.items()) / len(roots),
        "signature": signed / len(roots),
        "alerts_per_s": handled / in_pipeline,
        "floor_per_s": handled / store_floor(sent),
        "events": handled,
        "batches": batches,
        "pipeline_share": in_pipeline / elapsed,
        "commits": commits,
        "commit_share": committing / in_pipeline,
        "commit_s": committing / max(commits, 1),
    }
    for by, labels in baseline_labels.items():
        name = "+".join(by)
        figures[f"am_{name}_compression"] = 1 - baselines[by].groups / alerts
        figures[f"am_{name}_ari"] = adjusted_rand_score(truth_labels, labels)
    return figures


def store_floor(sent: list[tuple[float, list[Alert]]]) -> float:
    """Seconds the store alone takes to write the same batches, each in one durable
    transaction, in as few statements as the order of things allows: firing alerts
    refreshed, new ones inserted (all in one incident) and resolutions marked, through the
    calls the desk makes, each run written only when an alert in it fires or ends again.
    No correlation, ranking, incident, timeline or notification: what nothing built on
    this store can beat on this disk, whatever its logic."""
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp) / "floor.db")
        with store.transaction():
            incident = store.add_incident(
                Incident(0, "floor", IncidentStatus.OPEN, "P3", 3, 3, (), (), "default", 0, 0)
            )
        firing: set[str] = set()
        inserting: dict[str, Alert] = {}
        ending: dict[str, Alert] = {}

        def write(now: float) -> None:
            placed = [Placement(a, a.labels["service"]) for a in inserting.values()]
            store.add_alerts(incident, placed, now)
            store.resolve_alerts([(f, a.ends_at or now) for f, a in ending.items()], now)
            inserting.clear()
            ending.clear()

        took = 0.0
        for now, batch in sent:
            entered = time.perf_counter()
            with store.transaction():
                store.refresh_alerts([a for a in batch if a.fingerprint in firing], now)
                for alert in sorted(batch, key=_event_time):
                    fingerprint = alert.fingerprint
                    if alert.status == AlertStatus.FIRING and fingerprint not in firing:
                        if fingerprint in ending:
                            write(now)
                        inserting[fingerprint] = alert
                        firing.add(fingerprint)
                    elif alert.status != AlertStatus.FIRING and fingerprint in firing:
                        if fingerprint in inserting:
                            write(now)
                        ending[fingerprint] = alert
                        firing.discard(fingerprint)
                write(now)
            took += time.perf_counter() - entered
        store.close()
    return took


def _event_time(alert: Alert) -> float:
    """When an alert's change happened (as the pipeline orders a batch)."""
    if alert.status == AlertStatus.FIRING or alert.ends_at is None:
        return alert.starts_at
    return alert.ends_at


# Figures that are times: the rest are the same in every replay of one stream.
TIMED = ("alerts_per_s", "floor_per_s", "pipeline_share", "commit_share", "commit_s")


def fastest(
    repeat: int, size: int, faults: int, seed: int, evaluation: float = EVALUATION
) -> dict[str, float]:
    """The fastest of ``repeat`` replays of one stream: this machine's speed varies by a
    fifth from one run to the next, and the best of several is the least disturbed. Every
    replay must group, rank and count the same; one that does not is an error."""
    runs = [run(size, faults, seed, evaluation) for _ in range(max(1, repeat))]
    untimed = [{k: v for k, v in r.items() if k not in TIMED} for r in runs]
    if any(figures != untimed[0] for figures in untimed[1:]):
        raise SystemExit(f"replays of one stream ({size:,} services) grouped differently")
    best = max(runs, key=lambda r: r["alerts_per_s"])
    return {**best, "floor_per_s": max(r["floor_per_s"] for r in runs)}


def _commits(daemon: Daemon) -> tuple[float, float]:
    """Durable commits so far and the seconds they took, from the daemon's own histogram
    (``sentinel_store_commit_seconds``)."""
    registry = daemon.metrics.registry
    count = registry.get_sample_value("sentinel_store_commit_seconds_count") or 0.0
    return count, registry.get_sample_value("sentinel_store_commit_seconds_sum") or 0.0


def _named_at_the_end(store: Store, fingerprint: str) -> str:
    """The cause named by the incident an alert was last in, once the stream is over: what
    that incident's problem record is filed under."""
    incident_id = _incident_holding(store, fingerprint)
    incident = store.incident(incident_id) if incident_id else None
    return incident.root_causes[0].node if incident and incident.root_causes else ""


def _incident_holding(store: Store, fingerprint: str) -> int | None:
    """The incident an alert is in: where it fires, else (resolved for a moment while it
    flaps) the incident it last joined."""
    firing = store.firing_alert_incident(fingerprint)
    if firing is not None:
        return firing
    joined = [
        incident
        for row_fingerprint, incident in store.alert_rows()
        if row_fingerprint == fingerprint
    ]
    return joined[-1] if joined else None


def _incident_of_each_firing(store: Store, firings: list[str], duplicates: list[bool]) -> list[int]:
    """The incident each firing joined: a fingerprint's rows in firing order; a duplicate
    (it was firing already) is in the incident of the row it refreshed."""
    rows: dict[str, list[int]] = defaultdict(list)
    for fingerprint, incident_id in store.alert_rows():
        rows[fingerprint].append(incident_id)
    taken: dict[str, int] = defaultdict(int)
    result = []
    for fingerprint, duplicate in zip(firings, duplicates, strict=True):
        if not duplicate:
            taken[fingerprint] += 1
        result.append(rows[fingerprint][taken[fingerprint] - 1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 1000, 10000])
    parser.add_argument("--faults-per-100", type=float, default=2.0)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--repeat", type=int, default=3, help="replays of each main stream; the fastest is shown"
    )
    parser.add_argument(
        "--seeds", type=int, default=5, help="streams per size for the spread table (0: none)"
    )
    parser.add_argument(
        "--sensitivity",
        type=int,
        default=0,
        metavar="SIZE",
        help="also run --seeds streams of each other fault shape on SIZE services",
    )
    args = parser.parse_args()
    console = Console(width=215)
    results = []
    for size in args.sizes:
        faults = max(5, round(size * args.faults_per_100 / 100))
        results.append(fastest(args.repeat, size, faults, args.seed))
    # The largest stream again, heard of late: each batch holds five minutes of alerts.
    size = max(args.sizes)
    results.append(
        fastest(
            args.repeat,
            size,
            max(5, round(size * args.faults_per_100 / 100)),
            args.seed,
            LATE_BATCH,
        )
    )
    table = Table(title="Alert storms: sentinel vs Alertmanager grouping on the same stream")
    for column in (
        "services",
        "batch",
        "faults",
        "alerts",
        "incidents",
        "compression (ceiling)",
        "ARI (overlaps joined)",
        "root cause top-1",
        "named at the end",
        "alert events/s",
        "store floor events/s",
        "AM by alertname",
        "AM by alertname+service",
    ):
        table.add_column(column, justify="right")
    for r in results:
        table.add_row(
            f"{r['services']:,}",
            f"{r['batch']:g} s",
            str(r["faults"]),
            f"{r['alerts']:,}",
            f"{r['incidents']:,}",
            f"{r['compression']:.1%} ({r['ceiling']:.1%})",
            f"{r['ari']:.3f} ({r['ari_overlaps']:.3f})",
            f"{r['top1']:.3f}",
            f"{r['signature']:.3f}",
            f"{r['alerts_per_s']:,.0f}",
            f"{r['floor_per_s']:,.0f}",
            f"{r['am_alertname_compression']:.1%} / ARI {r['am_alertname_ari']:.3f}",
            f"{r['am_alertname+service_compression']:.1%} / ARI "
            f"{r['am_alertname+service_ari']:.3f}",
        )
    console.print(table)
    if args.seeds:
        console.print(_spread(args.sizes, args.faults_per_100, args.seed, args.seeds))
    if args.sensitivity and args.seeds:
        console.print(_sensitivity(args.sensitivity, args.faults_per_100, args.seed, args.seeds))
    for r in results:
        console.print(
            f"{r['services']:,} services, {r['batch']:g} s batches: {r['events']:,} alert events "
            "(firing and resolved) in "
            f"{r['batches']:,} evaluation batches, each one store transaction; "
            f"{r['events'] / r['batches']:.1f} events a batch; "
            f"{r['pipeline_share']:.0%} of the loop's time in the pipeline; "
            f"{r['overlapping']} of {r['faults'] + r['noise']} faults and noise alerts fail a "
            "service at the same time as another (joined for the bracketed ARI)"
        )
        console.print(
            f"  {r['commits']:,.0f} durable commits took {r['commit_share']:.0%} of the "
            f"pipeline's time, {r['commit_s'] * 1e6:,.0f} µs each "
            "(sentinel_store_commit_seconds): each batch's decisions are on disk before the next"
        )
        console.print(
            f"  bounds: the commits alone allow at most "
            f"{r['alerts_per_s'] / r['commit_share']:,.0f} events/s at this batch size; "
            f"the rest of the work alone (placement, ranking, desk, their statements) "
            f"{r['alerts_per_s'] / (1 - r['commit_share']):,.0f}"
        )
        console.print(
            f"  store floor: the same batches written as alert rows alone (inserted, refreshed "
            f"and resolved, one durable transaction each, no correlation or desk) run at "
            f"{r['floor_per_s']:,.0f} events/s; sentinel is at "
            f"{r['alerts_per_s'] / r['floor_per_s']:.0%} of that"
        )


def _spread(sizes: list[int], faults_per_100: float, first: int, seeds: int) -> Table:
    """The same figures over several random streams per size, so no one draw of topology
    and faults speaks for the method: mean and worst of each."""
    table = Table(
        title=f"Over {seeds} streams per size (seeds {first} to {first + seeds - 1}, 5 s batches)"
    )
    for column in (
        "services",
        "compression − ceiling",
        "ARI",
        "ARI (overlaps joined)",
        "root cause top-1",
    ):
        table.add_column(column, justify="right")
    for size in sizes:
        faults = max(5, round(size * faults_per_100 / 100))
        runs = [run(size, faults, seed) for seed in range(first, first + seeds)]
        table.add_row(
            f"{size:,}",
            _mean_worst([r["compression"] - r["ceiling"] for r in runs], "+.2%"),
            *(_mean_worst([r[key] for r in runs]) for key in ("ari", "ari_overlaps", "top1")),
        )
    return table


def _sensitivity(size: int, faults_per_100: float, first: int, seeds: int) -> Table:
    """The method, unchanged, on faults of other shapes: slower or faster to spread, wider
    or narrower, on fewer replicas, healing sooner, found at rule evaluations. Its
    defaults were chosen on the default shape; a figure that held only there would say
    more of the generator than of sentinel."""
    table = Table(
        title=f"Other fault shapes: {size:,} services, {seeds} streams each "
        f"(seeds {first} to {first + seeds - 1}, 5 s batches), mean (worst)"
    )
    for column in (
        "shape",
        "compression (ceiling)",
        "compression − ceiling",
        "ARI",
        "ARI (overlaps joined)",
        "root cause top-1",
        "named at the end",
    ):
        table.add_column(column, justify="right")
    faults = max(5, round(size * faults_per_100 / 100))
    for shape in SHAPES:
        runs = [run(size, faults, seed, shape=shape) for seed in range(first, first + seeds)]
        compression, ceiling = (
            sum(r[k] for r in runs) / len(runs) for k in ("compression", "ceiling")
        )
        table.add_row(
            str(shape),
            f"{compression:.1%} ({ceiling:.1%})",
            _mean_worst([r["compression"] - r["ceiling"] for r in runs], "+.2%"),
            *(
                _mean_worst([r[key] for r in runs])
                for key in ("ari", "ari_overlaps", "top1", "signature")
            ),
        )
    return table


def _mean_worst(values: list[float], style: str = ".3f") -> str:
    """A figure over several streams: its mean, and its worst.

    >>> _mean_worst([0.9, 1.0]), _mean_worst([0.001, -0.002], "+.2%")
    ('0.950 (worst 0.900)', '-0.05% (worst -0.20%)')
    """
    return f"{sum(values) / len(values):{style}} (worst {min(values):{style}})"


if __name__ == "__main__":
    main()
