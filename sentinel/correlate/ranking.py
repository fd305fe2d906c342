"""Root-cause ranking: which of an incident's failing services is likeliest its cause,
with the evidence a person can check.

Each node alerting in an incident is a suspect, weighed by graph position (whether what it
depends on that fails explains its trouble), onset order (whether it began before what it
is connected to), breadth (how much of the others' trouble it accounts for), strength
(its strongest alert's score and severity, and its deviation beside the largest) and
recent changes on it or below it. A wide incident's ranking is kept and ranked again by
what joins it (``Ranker.rank_added``); each node's last suspect and weighing are reused
while what they read stays.
"""

from __future__ import annotations

import bisect
import heapq
import math
import operator
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache

from sentinel.correlate.topology import CorrelationConfig, Topology
from sentinel.model import Alert, Change, RootCause, Severity, some_of

_SEVERITY_WEIGHT = {Severity.CRITICAL: 1.0, Severity.WARNING: 0.6, Severity.INFO: 0.3}
# How much each kind of evidence counts; graph position dominates, as in a person's reading.
_WEIGHTS = {"graph": 0.4, "onset": 0.15, "breadth": 0.2, "strength": 0.1, "change": 0.15}
# A changed service that is not alerting itself may or may not be failing.
_UNALERTED_GRAPH = 0.5
# A dependency that moved less than this from its baseline, in its own spread, moved no
# further than it often does: it cannot be why its callers fail now.
EXPLAIN_SIGMAS = 4.0
# Labels naming which statistic of a metric a series is (a CloudWatch statistic, a
# Prometheus summary's quantile): a p99 is set against a p99 where both have one.
STATISTIC_LABELS = ("statistic", "quantile")
MAX_CANDIDATES = 10  # what a person reads; keeps a storm's incident record small
NAMED_IN_EVIDENCE = 10  # services an evidence line names before "and N more"
# Nodes whose last suspect and weighing ``rank`` keeps to reuse (see ``_alerting_cause``).
WEIGHED_KEPT = 50_000
# Incidents whose last ranking ``rank`` keeps, to rank them again by what joined them.
RANKINGS_KEPT = 16


@lru_cache(maxsize=4096)  # each ranking of a storm's incident quotes the same onsets again
def _clock(ts: float) -> str:
    return time.strftime("%H:%M:%SZ", time.gmtime(ts))


def failure_class(alert: Alert) -> str:
    """How something failed: the alert's name, and the metric for per-series rules."""
    metric = alert.labels.get("metric")
    return f"{alert.name}:{metric}" if metric else alert.name


Measure = tuple[str, str]  # failure class, statistic ("" where the series names none)


def measure(alert: Alert) -> Measure:
    """What an alert measures: its failure class, and which statistic of the metric."""
    labels = alert.labels
    statistic = next((labels[k] for k in STATISTIC_LABELS if labels.get(k)), "")
    return failure_class(alert), statistic


def deviation(alert: Alert) -> tuple[float, float | None] | None:
    """How far the alerting value sits from what was expected, in the metric's own unit
    (``value`` and ``expected`` annotations), and in the series' own spread where the
    detector says (``sigmas``): None where the alert says nothing of size."""
    annotations = alert.annotations
    try:
        amount = abs(float(annotations["value"]) - float(annotations["expected"]))
    except (KeyError, ValueError):
        return None
    try:
        sigmas: float | None = float(annotations["sigmas"])
    except (KeyError, ValueError):
        sigmas = None
    return amount, sigmas if sigmas is not None and sigmas > 0 else None


def _counterpart(cause: _Suspect, kind: Measure) -> Measure | None:
    """The cause's deviation to set against a dependant's of ``kind``: the same statistic
    where it deviates in that too; else its nearest of the same failure class at or below
    that statistic's place in the distribution (a dependency's median 0.5 s slower moves
    its callers' p90 too, while its p99 alone moves no caller's average); else, where
    statistics have no order, its largest of the class; else none."""
    if kind in cause.deviations:
        return kind
    same = [m for m in cause.deviations if m[0] == kind[0]]
    if not same:
        return None
    place = _place(kind[1])
    placed = [(p, m) for m in same if (p := _place(m[1])) is not None]
    if place is None or len(placed) < len(same):
        return max(same, key=lambda m: (cause.deviations[m], m))
    below = [(p, cause.deviations[m], m) for p, m in placed if p <= place]
    return max(below)[2] if below else None


def _place(statistic: str) -> float | None:
    """Where a statistic sits in a distribution (0 lowest, 1 highest; an average counts as
    its middle), None for one with no place (a sum, a count)."""
    name = statistic.strip().lower()
    if name in ("average", "avg", "mean", "median"):
        return 0.5
    if name in ("minimum", "min"):
        return 0.0
    if name in ("maximum", "max"):
        return 1.0
    try:
        return float(name[1:]) / 100 if name[:1] == "p" else float(name)
    except ValueError:
        return None


def _share(cause: _Suspect, dependant: _Suspect, kind: Measure, theirs: Measure) -> float:
    """How much of a dependant's deviation of one measure the cause's (``theirs``) accounts
    for (0..1), in the metric's own unit; none where the cause's own deviation lies within
    ``EXPLAIN_SIGMAS`` of its baseline: a noisy database's 0.3 s rise, 2.7σ, is one it
    has had before without its callers failing, so it does not explain a caller 28σ out.
    Beyond that, big failures pass through whole, however little of a dependency's
    everyday noise reaches its callers."""
    sigmas = cause.sigmas.get(theirs)
    if sigmas is not None and sigmas < EXPLAIN_SIGMAS:
        return 0.0
    return min(1.0, cause.deviations[theirs] / dependant.deviations[kind])


def _explained(cause: _Suspect, dependant: _Suspect) -> tuple[float, Measure, Measure] | None:
    """The dependant's deviation the cause explains best, as (share, the dependant's
    measure, the cause's counterpart); None where they share no failure class."""
    best = None
    for kind in dependant.deviations:
        theirs = _counterpart(cause, kind)
        if theirs is not None:
            share = _share(cause, dependant, kind, theirs)
            if best is None or share > best[0]:
                best = share, kind, theirs
    return best


def _explains(cause: _Suspect, dependant: _Suspect) -> float:
    """How much of a failing dependant's trouble a cause can account for (0..1): by the
    size of their deviations where both have one of a failure class; none of it where both
    deviate only in different classes; all of it where either says nothing of size (the
    mirror of ``TopologyCorrelator._unexplained``)."""
    if not cause.deviations or not dependant.deviations:
        return 1.0
    explained = _explained(cause, dependant)
    return 0.0 if explained is None else explained[0]


def _sized(suspect: _Suspect, kind: Measure) -> str:
    """A deviation as evidence quotes it: "latency p90 0.3213" or "… 0.3213, 2.7σ"."""
    amount, sigmas = suspect.deviations[kind], suspect.sigmas.get(kind)
    name = f"{kind[0]} {kind[1]}" if kind[1] else kind[0]
    return f"{name} {amount:.4g}" if sigmas is None else f"{name} {amount:.4g}, {sigmas:.3g}σ"


def _magnitude(suspect: _Suspect, largest: dict[Measure, float]) -> float:
    """How large a node's deviation is next to the largest of its failure class in the
    incident, and in its own spread (0..1; 1 where nothing compares): a blip beside an
    outage counts for little, and so does a noisy series' everyday swing."""
    deviations = suspect.deviations.items()
    shares = [amount / largest[kind] * _outlying(suspect, kind) for kind, amount in deviations]
    return max(shares, default=1.0)


def _outlying(suspect: _Suspect, kind: Measure) -> float:
    """How far out a deviation is in its series' own spread, as a share of
    ``EXPLAIN_SIGMAS`` (1 beyond that, or where the detector does not say): a noisy
    series' large move in seconds is a small one for it."""
    sigmas = suspect.sigmas.get(kind)
    return 1.0 if sigmas is None else min(1.0, sigmas / EXPLAIN_SIGMAS)


def _largest(suspects: Iterable[_Suspect]) -> dict[Measure, float]:
    """The largest deviation of each measure among the suspects."""
    largest: dict[Measure, float] = {}
    for suspect in suspects:
        for kind, amount in suspect.deviations.items():
            largest[kind] = max(largest.get(kind, 0.0), amount)
    return largest


class _Sum:
    """A sum of floats, exactly rounded, kept as terms are added: Shewchuk's partials, as
    ``math.fsum`` keeps them, which add up to the terms' sum exactly. So it is the same
    to the last bit in whatever order the terms came (a kept ranking and one from
    nothing agree), and adding one is not adding all of them again, at each of a storm's
    thousands of joins."""

    __slots__ = ("count", "partials")

    def __init__(self, terms: Iterable[float] = ()) -> None:
        self.partials: list[float] = []
        self.count = 0
        for term in terms:
            self.add(term)

    def add(self, term: float) -> None:
        partials, kept = self.partials, 0
        for other in partials:
            if abs(term) < abs(other):
                term, other = other, term
            high = term + other
            low = other - (high - term)
            if low:
                partials[kept] = low
                kept += 1
            term = high
        partials[kept:] = [term]
        self.count += 1

    def total(self) -> float:
        return math.fsum(self.partials)


@dataclass(slots=True, eq=False)  # never changed once made
class _Weighing:
    """A suspect's weighing before its breadth is a share of the others' trouble (how much
    of it the suspect accounts for, over how many others there are), with the parts
    that read its failing dependants apart: a kept ranking's joins change only how
    many others there are for a suspect with failing dependants, or, for what the
    newcomers depend on, those parts (``TopologyCorrelator._rank_joined``)."""

    node: str
    onset: float
    graph: float  # each part as weighed, but breadth
    timing: float
    accounted: float  # how much of the others' trouble it accounts for
    strength: float
    change: float
    head: tuple[str, ...]  # evidence: its strongest alert, what it depends on
    middle: tuple[str, ...]  # evidence: its failing dependants
    tail: tuple[str, ...]  # evidence: what it may front, when it began, changes on it
    failure: str
    calls_read: bool  # its head names its failing dependants (its callers drive it)
    evidence: tuple[str, ...] = field(init=False)  # all of it, in that order

    def __post_init__(self) -> None:
        self.evidence = self.head + self.middle + self.tail

    def followed_anew(self, timing: float, accounted: float, middle: tuple[str, ...]) -> _Weighing:
        """The weighing with what reads the failing dependants weighed again (built, not
        ``replace``d: that reads every field anew, at each of a storm's joins)."""
        return _Weighing(
            *(self.node, self.onset, self.graph, timing, accounted, self.strength, self.change),
            *(self.head, middle, self.tail, self.failure, self.calls_read),
        )

    def scored(self, others: int) -> _Ranked:
        """Its rank among ``others`` more: a sum over the parts in one order, as every
        weighing is summed, so it is the same to the last bit."""
        breadth = _WEIGHTS["breadth"] * (self.accounted / others if others else 1.0)
        score = round(sum((self.graph, self.timing, breadth, self.strength, self.change)), 3)
        return (-score, self.onset, self.node), RootCause(
            self.node, score, self.evidence, self.failure
        )


@dataclass
class _Incident:
    """What ranking weighs each suspect against: the others, computed once per ranking."""

    suspects: dict[str, _Suspect]
    first: _Suspect
    changes: Sequence[Change]
    top_strength: float
    largest: dict[Measure, float]
    # remote endpoint -> the failing services its callers also call, which it may front
    stand_ins: dict[str, list[_Suspect]]
    failing_below: dict[str, tuple[_Suspect, ...]]  # node -> the suspects it depends on, in order
    failing_above: dict[str, list[str]]  # node -> the suspects that depend on it, sorted
    # onset -> the suspects that began then, sorted, where more than one did
    together: dict[float, list[str]]

    _nearness: dict[str, list[tuple[float, _Suspect]]] = field(default_factory=dict)
    # node -> what its failing dependants are as a whole, once asked: a hub's weighing asks
    # at each of a kept ranking's batches, and each answer is a pass over thousands. Kept
    # current as dependants join (``depended_on``).
    _alone: dict[str, bool] = field(default_factory=dict)
    _earliest_above: dict[str, float] = field(default_factory=dict)
    _sized_above: dict[str, bool] = field(default_factory=dict)
    # node -> how much of each failing dependant's trouble it accounts for, the
    # dependants that began nearer to another failing dependency (by name, each with its
    # evidence), and how far it began before each service it is connected to, where
    # weighing them one by one is needed: kept current by the correlator as dependants
    # join (``TopologyCorrelator._join``).
    followed: dict[str, _Sum] = field(default_factory=dict)
    nearer: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    preceded: dict[str, _Sum] = field(default_factory=dict)  # how far it began before each
    # node -> its last weighing, for each suspect with failing dependants
    weighings: dict[str, _Weighing] = field(default_factory=dict)

    def alone_below(self, node: str) -> bool:
        """Whether each failing dependant of ``node`` has one failing dependency only."""
        alone = self._alone.get(node)
        if alone is None:
            above = self.failing_above.get(node, ())
            lengths = map(len, map(self.failing_below.__getitem__, above))
            alone = self._alone[node] = max(lengths, default=1) == 1
        return alone

    def earliest_above(self, node: str) -> float:
        """The earliest onset among the failing dependants of ``node`` (inf: none)."""
        earliest = self._earliest_above.get(node)
        if earliest is None:
            above = map(self.suspects.__getitem__, self.failing_above.get(node, ()))
            earliest = self._earliest_above[node] = min(map(_ONSET_OF, above), default=math.inf)
        return earliest

    def sized_above(self, node: str) -> bool:
        """Whether any failing dependant of ``node`` says how far it deviates."""
        sized = self._sized_above.get(node)
        if sized is None:
            above = map(self.suspects.__getitem__, self.failing_above.get(node, ()))
            sized = self._sized_above[node] = any(map(_DEVIATIONS, above))
        return sized

    def depended_on(self, node: str, dependant: str) -> None:
        """``dependant`` (with its failing dependencies listed) joined the failing
        dependants of ``node``: what was asked of them stays current."""
        joined = self.suspects[dependant]
        if node in self._alone:
            self._alone[node] &= len(self.failing_below[dependant]) == 1
        if node in self._earliest_above:
            self._earliest_above[node] = min(self._earliest_above[node], joined.onset)
        if node in self._sized_above:
            self._sized_above[node] |= bool(joined.deviations)

    def by_nearness(self, node: str) -> list[tuple[float, _Suspect]]:
        """A failing dependant's failing dependencies by how near in time to it each began
        (seconds either way), nearest first; sorted when first asked for."""
        nearest = self._nearness.get(node)
        if nearest is None:
            onset = self.suspects[node].onset
            nearest = self._nearness[node] = sorted(
                ((abs(onset - s.onset), s) for s in self.failing_below[node]),
                key=lambda pair: (pair[0], pair[1].node),
            )
        return nearest


@dataclass
class _Kept:
    """What an incident's last ranking read and gave, kept to rank it again by the services
    that joined it since (``TopologyCorrelator._rank_joined``). It holds every alert it
    read, so no other object takes one's ``id`` while it is kept."""

    ids: set[int]  # ``id`` of each alert read
    incident: _Incident  # the suspects, and what each is weighed against
    onsets: dict[float, str]  # each suspect's onset, with a suspect that began then
    below: set[str]  # everything any suspect depends on
    causes: dict[str, _Ranked]  # each suspect weighed, but those with failing dependants
    order: list[tuple[float, float, str]]  # the causes' keys, sorted
    # node -> its cause's evidence and score as last given, how many began with it, and
    # the cause as given (``_best``)
    given: dict[str, tuple[tuple[str, ...], float, int, RootCause]] = field(default_factory=dict)


@dataclass(eq=False)  # one per node and alerts, known by identity: ranking's memo keys hold it
class _Suspect:
    """What ranking knows of one node: its alerts' onset, strength and deviations."""

    node: str
    alerts: list[Alert]
    onset: float
    deviations: dict[Measure, float]  # measure -> largest deviation
    sigmas: dict[Measure, float]  # measure -> that deviation in σ, where known
    # Its highest-scored alert (of equals, the first to fire: ``rank`` orders them), and
    # that alert's score times severity weight (never 0, to compare by). Found as it is
    # made: every suspect is weighed by them, and a cached property takes a lock in each.
    strongest: Alert
    strength: float

    @classmethod
    def of(cls, node: str, alerts: list[Alert]) -> _Suspect:
        deviations: dict[Measure, float] = {}
        sigmas: dict[Measure, float] = {}
        for alert in alerts:
            sized = deviation(alert)
            if sized is None or sized[0] <= 0:
                continue
            kind, (amount, count) = measure(alert), sized
            if amount > deviations.get(kind, 0.0):
                deviations[kind] = amount
                if count is None:
                    sigmas.pop(kind, None)
                else:
                    sigmas[kind] = count
        strongest = max(alerts, key=_weighed)
        onset = min(a.starts_at for a in alerts)
        return cls(
            node, alerts, onset, deviations, sigmas, strongest, max(_weighed(strongest), 1e-9)
        )


# A cause with the key ``rank`` orders causes by: best score, earliest onset, then name.
_Ranked = tuple[tuple[float, float, str], RootCause]
_KEY = operator.itemgetter(0)  # of a ranked cause: nodes are unique, so keys never tie
_ONSET, _FINGERPRINT = operator.attrgetter("starts_at"), operator.attrgetter("fingerprint")
_ONSET_OF, _DEVIATIONS = operator.attrgetter("onset"), operator.attrgetter("deviations")


def _weighed(alert: Alert) -> float:
    """An alert's score times its severity's weight: how strongly it speaks."""
    return alert.score * _SEVERITY_WEIGHT[alert.severity]


class Ranker:
    """Ranks an incident's causes on a topology. Keeps each node's last suspect and
    weighing to reuse while what they read stays, and the last rankings of wide
    incidents (``kept_as``) to rank them again by what joins them.

    >>> from sentinel.correlate.topology import ServiceConfig
    >>> from sentinel.model import AlertStatus
    >>> topo = Topology.from_services([ServiceConfig(name="api", depends_on=["db"]),
    ...                                ServiceConfig(name="db")])
    >>> fire = lambda svc, t: Alert({"alertname": "Down", "service": svc}, {},
    ...                             AlertStatus.FIRING, t)
    >>> node = lambda alert: alert.labels["service"]
    >>> ranker = Ranker(topo, CorrelationConfig(), node)
    >>> [c.node for c in ranker.rank([fire("api", 5), fire("db", 9)])]
    ['db', 'api']
    """

    def __init__(
        self, topology: Topology, config: CorrelationConfig, node: Callable[[Alert], str]
    ) -> None:
        self.topology, self.config, self.node = topology, config, node
        # node -> its last suspect, and what weighing it last read and gave; see ``rank``
        self._suspects: dict[str, _Suspect] = {}
        self._weighed: dict[str, tuple[tuple[object, ...], _Ranked]] = {}
        self._weighed_with: list[Change] = []  # the changes those weighings read
        self._kept: dict[Hashable, _Kept] = {}  # see ``rank``'s ``kept_as``

    @staticmethod
    def ranks_alike(held: Sequence[Alert], joining: Alert) -> bool:
        """Whether ranking reads a node the same with ``joining`` added to ``held`` (what
        it reads of that node: its earliest alert per measure), so need not run again: it
        knows a node by its onset, its deviations in size and its strongest alert, and
        ``joining`` then begins no earlier, says nothing of size and does not outrank that
        alert (of equals, the first to fire is the strongest). A storm's instances raise
        rule after rule on services already in its incident: each a new measure, each
        ranking the whole incident again, to the same result."""
        if not held:
            return False
        sized = deviation(joining)
        if sized is not None and sized[0] > 0:
            return False
        if joining.starts_at < min(a.starts_at for a in held):
            return False
        in_order = sorted(held, key=lambda a: (a.starts_at, a.fingerprint))
        strongest = max(in_order, key=_weighed)
        if _weighed(joining) != _weighed(strongest):
            return _weighed(joining) < _weighed(strongest)
        return (joining.starts_at, joining.fingerprint) > (
            strongest.starts_at,
            strongest.fingerprint,
        )

    def rank(
        self,
        alerts: Sequence[Alert],
        changes: Sequence[Change] = (),
        kept_as: Hashable | None = None,
    ) -> tuple[RootCause, ...]:
        """Order the alerting nodes (and changed services they depend on) by how likely
        each is the cause, each with the evidence behind its place. ``kept_as`` names the
        incident ranked: what the ranking read is kept under it, and the next ranking of
        it that only adds services weighs just those and what they depend on, the same
        ranking as from nothing (``_rank_joined``)."""
        self._forget_weighings_unless(changes)
        kept = self._kept.pop(kept_as, None) if kept_as is not None else None
        if kept is not None and not changes:
            ids = set(map(id, alerts))
            fresh = ids - kept.ids
            # Each alert once, and every one it read among them.
            if len(ids) == len(alerts) and len(ids) - len(fresh) == len(kept.ids):
                ranked = self._rank_joined(kept, _among(alerts, fresh), fresh)
                if ranked is not None:
                    self._kept[kept_as] = kept
                    return ranked
        # In onset order, not arrival order: of equal alerts the first to fire names the
        # failure class of a signature, which must not hang on how alerts arrived, or one
        # recurring trouble files under two problems. A node's alert is listed only once it
        # has two: a list per node, alive while ranking runs, is thousands of objects for
        # the collector to walk in a storm, and ranking a storm's incident made it walk
        # the whole heap every few batches.
        by_node: dict[str, Alert | list[Alert]] = {}
        node_of = self.node
        by_fingerprint = sorted(alerts, key=_FINGERPRINT)  # then stably by onset: no key
        for alert in sorted(by_fingerprint, key=_ONSET):  # tuples, one per alert
            node = node_of(alert)
            held = by_node.get(node)
            if held is None:
                by_node[node] = alert
            elif isinstance(held, list):
                held.append(alert)
            else:
                by_node[node] = [held, alert]
        if not by_node:
            return ()
        suspects = {node: self._suspect(node, group) for node, group in by_node.items()}
        first = min(suspects.values(), key=lambda s: (s.onset, s.node))
        together = self._together_at(suspects)
        incident = _Incident(
            suspects,
            first,
            changes,
            max(s.strength for s in suspects.values()),
            _largest(suspects.values()),
            self._stand_ins(suspects),
            *self._failing_relations(suspects),
            together,
        )
        causes = [self._alerting_cause(s, incident) for s in suspects.values()]
        if kept_as is not None and not changes and self.topology.remote.isdisjoint(suspects):
            # A remote endpoint's reading hangs on what its callers call: never kept.
            self._keep(kept_as, alerts, incident, causes)
        causes += self._changed_causes(suspects, first, changes)
        # Nodes are unique, so the keys order the causes totally and never tie.
        best = heapq.nsmallest(MAX_CANDIDATES, causes, key=_KEY)
        return tuple(_tied(cause, incident) for _, cause in best)

    def rank_added(
        self, kept_as: Hashable, added: Sequence[Alert], changes: Sequence[Change] = ()
    ) -> tuple[RootCause, ...] | None:
        """The ranking of the incident kept under ``kept_as`` once ``added`` joined it, from
        a caller that knows nothing else changed since it was ranked: what the ranking
        read is not given again (a wide incident's thousands, flattened at each batch, and
        each looked up). None where it must be ranked from all it holds: nothing kept, a
        recent change, or joins that change what the others read."""
        self._forget_weighings_unless(changes)
        kept = self._kept.pop(kept_as, None)
        if kept is None or changes:
            return None
        fresh = set(map(id, added))
        if len(fresh) < len(added) or not fresh.isdisjoint(kept.ids):
            return None
        ranked = self._rank_joined(kept, added, fresh)
        if ranked is not None:
            self._kept[kept_as] = kept
        return ranked

    def _forget_weighings_unless(self, changes: Sequence[Change]) -> None:
        """Weighings read the recent changes: those made with others are no use."""
        if len(self._suspects) > WEIGHED_KEPT or list(changes) != self._weighed_with:
            self._suspects.clear()
            self._weighed.clear()
            self._weighed_with = list(changes)

    def _keep(
        self, kept_as: Hashable, alerts: Sequence[Alert], incident: _Incident, causes: list[_Ranked]
    ) -> None:
        """Keep what a ranking read and gave, to rank the incident again by what joins."""
        ids = set(map(id, alerts))
        if len(ids) < len(alerts):
            return  # an alert given twice: ranked from nothing each time
        suspects = incident.suspects
        below: set[str] = set()
        for node in suspects:
            below |= self.topology.below(node)
        if len(self._kept) >= RANKINGS_KEPT:
            del self._kept[next(iter(self._kept))]
        hubs = incident.weighings  # scored as they are given: see ``_best``
        listed = {cause.node: (key, cause) for key, cause in causes if cause.node not in hubs}
        self._kept[kept_as] = _Kept(
            ids,
            incident,
            {s.onset: node for node, s in suspects.items()},
            below,
            listed,
            sorted(key for key, _ in listed.values()),
        )

    def _rank_joined(
        self, kept: _Kept, new: Sequence[Alert], fresh: set[int]
    ) -> tuple[RootCause, ...] | None:
        """The ranking of an incident that only gained ``new`` alerts (``fresh``: their
        ``id``s) since it was kept, and no recent change is weighed: the newcomers are
        weighed, and what they depend on reads its failing dependants again; every
        suspect with failing dependants is scored for how many others there are as the
        ranking is given (``_best``); the rest read what they read before (as in
        ``_alerting_cause``). None, to rank from nothing, where the joins change what
        those read: a newcomer changed a suspect, began before the first (which all are
        timed against), is stronger or deviates further than all of them, is a remote
        endpoint (no ranking with one is kept: what its callers call may join), or is
        depended on by one of them. Who began at the same time as whom is no part of a
        weighing (``_tied``), so newcomers may share onsets and come between suspects. A
        storm on a service thousands depend on ranked each of its thousands at every
        batch to weigh the few that joined."""
        incident = kept.incident
        suspects, topology = incident.suspects, self.topology
        if len(suspects) < 2:
            return None  # a second suspect changes how the first reads being alone
        by_fingerprint = sorted(new, key=_FINGERPRINT)
        in_order = sorted(by_fingerprint, key=_ONSET)
        grouped: dict[str, list[Alert]] = {}
        for alert in in_order:
            grouped.setdefault(self.node(alert), []).append(alert)
        joined = {node: self._suspect(node, group) for node, group in grouped.items()}
        first = incident.first
        if (
            not suspects.keys().isdisjoint(joined)  # a pass over ``joined``, not them
            or any((s.onset, s.node) < (first.onset, first.node) for s in joined.values())
            or not kept.below.isdisjoint(joined)
            or not topology.remote.isdisjoint(joined)
            or any(s.strength > incident.top_strength for s in joined.values())
            or any(
                amount > incident.largest.get(kind, 0.0)
                for s in joined.values()
                for kind, amount in s.deviations.items()
            )
        ):
            return None
        if not joined:
            return self._best(kept)
        kept.ids |= fresh
        self._join(kept, joined)
        # Weighed again: the newcomers, and of what they depend on, what reads its failing
        # dependants (a hub thousands depend on was weighed whole at every join). Every
        # other suspect with failing dependants reads only how many others there are.
        weighings = incident.weighings
        for node in {d.node for n in joined for d in incident.failing_below[n]} - joined.keys():
            held = weighings.get(node)
            if held is not None and not held.calls_read:
                weighings[node] = held.followed_anew(*self._followed(suspects[node], incident, []))
            else:
                self._weigh_kept(kept, node)
        for node in joined:
            self._weigh_kept(kept, node)
        return self._best(kept)

    def _weigh_kept(self, kept: _Kept, node: str) -> None:
        """Weigh a suspect of a kept ranking again: listed by its key, unless it has failing
        dependants (those are scored as the ranking is given, ``_best``)."""
        before = kept.causes.pop(node, None)
        if before is not None:
            del kept.order[bisect.bisect_left(kept.order, before[0])]
        weighed = self._alerting_cause(kept.incident.suspects[node], kept.incident)
        if node not in kept.incident.weighings:
            kept.causes[node] = weighed
            bisect.insort(kept.order, weighed[0])

    def _join(self, kept: _Kept, joined: dict[str, _Suspect]) -> None:
        """Add newcomers to a kept ranking's suspects, with what they depend on that fails
        (in the order a ranking from nothing lists suspects: by onset, then by their first
        alert's fingerprint), what that has failing above it, and who began with them."""
        incident, below = kept.incident, self.topology.below
        suspects, together = incident.suspects, incident.together
        began: dict[float, list[str]] = defaultdict(list)
        for node, suspect in joined.items():
            suspects[node] = suspect
            kept.below |= below(node)
            began[suspect.onset].append(node)
        for onset, nodes in began.items():
            tied = together.get(onset)
            if tied is None and (onset in kept.onsets or len(nodes) > 1):
                # One began then already, or several do: listed from now on.
                tied = together[onset] = [kept.onsets[onset]] if onset in kept.onsets else []
            if tied is not None:
                for node in nodes:  # each in its place: a storm's hundreds share an onset
                    bisect.insort(tied, node)
            kept.onsets.setdefault(onset, nodes[0])
        for node in joined:
            failing = sorted(suspects.keys() & below(node), key=lambda m: _listed(suspects[m]))
            incident.failing_below[node] = tuple([suspects[m] for m in failing])
            for dependency in failing:
                bisect.insort(incident.failing_above.setdefault(dependency, []), node)
                incident.depended_on(dependency, node)
                cause = suspects[dependency]
                if dependency in incident.preceded:
                    incident.preceded[dependency].add(self._before(cause, suspects[node]))
                if dependency in incident.followed:
                    incident.followed[dependency].add(self._follows(cause, node, incident))
                if dependency in incident.nearer:
                    quoted = self._quoted(cause, node, incident)
                    if quoted is not None:
                        bisect.insort(incident.nearer[dependency], quoted)

    @staticmethod
    def _best(kept: _Kept) -> tuple[RootCause, ...]:
        """The first candidates by the kept, sorted keys (as ``rank`` orders them), each
        told who began with it again only where it, or they, changed: in a storm whose
        alerts began at the same evaluations, they do at most joins, and the candidates
        at most rarely."""
        incident = kept.incident
        others = len(incident.suspects) - 1
        listed = [kept.causes[node] for *_, node in kept.order[:MAX_CANDIDATES]]
        listed += [weighing.scored(others) for weighing in incident.weighings.values()]
        best, together, given = [], incident.together, kept.given
        listed.sort(key=_KEY)  # a few hubs among the ten listed: sorted in C
        for (_, onset, node), cause in listed[:MAX_CANDIDATES]:
            ties = len(together.get(onset, ()))
            known = given.get(node)
            if (
                known is None
                or known[0] is not cause.evidence
                or known[1] != cause.score
                or known[2] != ties
            ):
                known = given[node] = cause.evidence, cause.score, ties, _tied(cause, incident)
            best.append(known[3])
        return tuple(best)

    @staticmethod
    def _together_at(suspects: dict[str, _Suspect]) -> dict[float, list[str]]:
        """The onsets at which more than one suspect began, each with those suspects by
        name. Counted first: a list per suspect, alive while ranking runs, is thousands of
        objects for the collector to walk in a storm (where few share an onset)."""
        shared = {
            at for at, count in Counter(s.onset for s in suspects.values()).items() if count > 1
        }
        together: dict[float, list[str]] = defaultdict(list)
        if shared:
            for node, suspect in suspects.items():
                if suspect.onset in shared:
                    together[suspect.onset].append(node)
        return {at: sorted(nodes) for at, nodes in together.items()}

    def _suspect(self, node: str, alerts: Alert | list[Alert]) -> _Suspect:
        """The node's suspect, the one made last if its alerts are the same ones."""
        if not isinstance(alerts, list):
            alerts = [alerts]
        known = self._suspects.get(node)
        if (
            known is not None
            and len(known.alerts) == len(alerts)
            and all(map(operator.is_, known.alerts, alerts))
        ):
            return known
        suspect = self._suspects[node] = _Suspect.of(node, alerts)
        return suspect

    def _alerting_cause(self, suspect: _Suspect, incident: _Incident) -> _Ranked:
        """The suspect weighed against the others. One that no failing service depends on
        and that fronts none (a storm's symptoms, most of its suspects) reads of them only
        what it depends on that fails and a few figures of the whole: weighed again only
        when one of those, or the suspect, changed. A wide incident ranks at every batch,
        thousands of its services each time, nearly all of them as they were."""
        node = suspect.node
        stand_ins = incident.stand_ins
        fronts = (
            sorted(r for r, behind in stand_ins.items() if suspect in behind) if stand_ins else []
        )
        if node in incident.failing_above or fronts or node in stand_ins:
            return self._weigh(suspect, incident, fronts)
        read = (
            suspect,
            tuple(incident.failing_below[node]),
            len(incident.suspects) > 1,
            incident.first.node,
            incident.first.onset,
            incident.top_strength,
            tuple([incident.largest[kind] for kind in suspect.deviations]),
        )
        known = self._weighed.get(node)
        if known is not None and known[0] == read:
            return known[1]
        weighed = self._weigh(suspect, incident, fronts)
        self._weighed[node] = read, weighed
        return weighed

    def _weigh(self, suspect: _Suspect, incident: _Incident, fronts: list[str]) -> _Ranked:
        node, topology = suspect.node, self.topology
        first = incident.first
        dependants = incident.failing_above.get(node, [])
        strongest = suspect.strongest
        own = self._own(suspect, dependants)
        calls_read = bool(suspect.deviations and not own.deviations)
        if calls_read:
            unexplained, explanation = (
                0.0,
                (f"{node}'s request rate follows its failing callers: {_named(dependants)}"),
            )
        elif node in incident.stand_ins:
            unexplained, explanation = self._unexplained(
                own, incident.stand_ins[node], "is seen only from its callers, who also call"
            )
        else:
            unexplained, explanation = self._unexplained(own, incident.failing_below[node])
        change, change_note = self._change(node, first.onset, incident.changes)
        strength = suspect.strength / incident.top_strength
        if own.deviations or not suspect.deviations:
            strength *= _magnitude(own, incident.largest)
        else:
            strength *= 0.0
        reason = strongest.annotations.get("reason")
        head = [
            f"{node}: {strongest.name} firing since {_clock(strongest.starts_at)}"
            f" — {strongest.summary}"
            + (f" ({reason})" if reason and reason not in strongest.summary else "")
        ]
        if explanation:
            head.append(explanation)
        elif node in topology:
            head.append(f"nothing {node} depends on is failing")
        tail = []
        if fronts:
            tail.append(
                f"may be behind {_named(fronts)}: remote, called by its callers, failing too"
            )
        tail.append(_timing(suspect, incident))  # who began with it: see ``_tied``
        if change_note:
            tail.append(change_note)
        timing, accounted, middle = self._followed(suspect, incident, fronts)
        weighing = _Weighing(
            node,
            suspect.onset,
            _WEIGHTS["graph"] * unexplained,
            timing,
            accounted,
            _WEIGHTS["strength"] * strength,
            _WEIGHTS["change"] * change,
            tuple(head),
            middle,
            tuple(tail),
            failure_class(strongest),
            calls_read,
        )
        if dependants:
            incident.weighings[node] = weighing
        return weighing.scored(len(incident.suspects) - 1)

    def _followed(
        self, suspect: _Suspect, incident: _Incident, fronts: list[str]
    ) -> tuple[float, float, tuple[str, ...]]:
        """What of a suspect's weighing reads its failing dependants: whether it began
        before them (weighed), how much of their trouble it accounts for, and who they
        are (evidence). All that a join of another of them changes."""
        node, others = suspect.node, len(incident.suspects) - 1
        dependants = incident.failing_above.get(node, [])
        alone = incident.alone_below(node)  # each fails below it only: followed promptly
        middle = []
        if dependants:
            middle.append(_failing_dependants(dependants, node))
            nearer = "" if alone else self._nearer(suspect, dependants, incident)
            if nearer:
                middle.append(nearer)
        return (
            _WEIGHTS["onset"] * self._precedes(suspect, incident.failing_below[node], incident),
            self._accounted(suspect, dependants, alone, fronts, incident) if others else 0.0,
            tuple(middle),
        )

    def _own(self, suspect: _Suspect, callers: Sequence[str]) -> _Suspect:
        """The suspect's trouble without its request rates' deviations while services that
        call it fail: how often a service is called is its callers' doing (fewer orders
        reach the database while the shop fails)."""
        if not callers:
            return suspect
        traffic = self.config.traffic_metrics
        driven = {
            measure(a) for a in suspect.alerts if traffic.search(a.labels.get("metric", ""))
        } & suspect.deviations.keys()
        if not driven:
            return suspect
        return replace(
            suspect,
            deviations={k: v for k, v in suspect.deviations.items() if k not in driven},
            sigmas={k: v for k, v in suspect.sigmas.items() if k not in driven},
        )

    def _failing_relations(
        self, suspects: dict[str, _Suspect]
    ) -> tuple[dict[str, tuple[_Suspect, ...]], dict[str, list[str]]]:
        """Which suspects each suspect depends on, and which depend on it: one intersection
        of its closure with the suspects each, not a walk of every pair; never what depends
        on a node, which for a deep service is most of a storm's graph. The suspects that
        depend on one failing suspect alone (a storm's thousands) share one tuple of it."""
        names = frozenset(suspects)
        order: dict[str, int] = {}  # as ``suspects`` lists them, where one has two to order
        below: dict[str, tuple[_Suspect, ...]] = {}
        alone: dict[str, tuple[_Suspect, ...]] = {}  # dependency -> the tuple of it alone
        above: dict[str, list[str]] = defaultdict(list)
        for node in suspects:
            failing = self.topology.below(node) & names  # never the node itself
            if len(failing) > 1:
                order = order or {name: place for place, name in enumerate(suspects)}
                below[node] = tuple([suspects[m] for m in sorted(failing, key=order.__getitem__)])
            elif failing:
                (dependency,) = failing
                below[node] = alone.get(dependency) or alone.setdefault(
                    dependency, (suspects[dependency],)
                )
            else:
                below[node] = ()
            for dependency in failing:
                above[dependency].append(node)
        for nodes in above.values():
            nodes.sort()
        return below, dict(above)  # a node with none is not listed

    def _prompt(self, cause: _Suspect, dependant: str, incident: _Incident) -> float:
        """How promptly a dependant's trouble followed this cause's (0..1), next to the
        dependant's other failing dependencies that the cause's trouble cannot have passed
        through: trouble travels along a dependency in seconds, so of two failing
        dependencies the one that began right before the dependant explains it, not the one
        it ran beside unharmed for minutes. Within a ``window`` of that nearest."""
        if len(incident.failing_below[dependant]) == 1:  # the cause alone: none is nearer
            return 1.0
        return max(
            0.0, 1.0 - self._later(cause, dependant, incident)[0] / max(self.config.window, 1.0)
        )

    def _later(
        self, cause: _Suspect, dependant: str, incident: _Incident
    ) -> tuple[float, _Suspect]:
        """How much further in time from the dependant the cause began than the nearest
        alternative did (0 if none is nearer), and that alternative."""
        if len(incident.failing_below[dependant]) == 1:  # the cause: none is nearer
            return 0.0, cause
        below = self.topology.below
        for gap, other in incident.by_nearness(dependant):
            if other is cause:
                return 0.0, cause
            if cause.node not in below(other.node):
                return abs(incident.suspects[dependant].onset - cause.onset) - gap, other
        return 0.0, cause

    def _accounted(
        self,
        cause: _Suspect,
        dependants: Sequence[str],
        alone: bool,
        fronts: list[str],
        incident: _Incident,
    ) -> float:
        """How much of the others' trouble a cause accounts for (its breadth is that share
        of them all): each failing dependant by what it explains of it (0..1) and how
        promptly it followed, and each service it may front. Where each dependant fails
        below it alone (``alone``: it followed promptly) and one side or the other says
        nothing of size (explained whole), each counts 1, as ``_explains`` and ``_prompt``
        would give: counted, not weighed one by one, beside a service thousands depend on
        at every join."""
        suspects = incident.suspects
        if alone and (not cause.deviations or not incident.sized_above(cause.node)):
            followed: float = float(len(dependants))  # a sum of ones, exact
        else:
            terms = incident.followed.get(cause.node)
            if terms is None:
                terms = incident.followed[cause.node] = _Sum(
                    self._follows(cause, d, incident) for d in dependants
                )
            followed = terms.total()  # in whatever order they joined: exactly rounded
        fronted = sum(_explains(cause, suspects[d]) for d in fronts)
        return followed + fronted

    def _follows(self, cause: _Suspect, dependant: str, incident: _Incident) -> float:
        """How much of a failing dependant's trouble the cause accounts for (0..1): what
        it explains of it, by how promptly it followed."""
        suspect = incident.suspects[dependant]
        return _explains(cause, suspect) * self._prompt(cause, dependant, incident)

    def _nearer(self, cause: _Suspect, dependants: list[str], incident: _Incident) -> str:
        """Evidence against a cause: dependants whose trouble began nearer in time to
        another failing dependency's (the first two by name, with both gaps)."""
        quoted = incident.nearer.get(cause.node)
        if quoted is None:
            found = (self._quoted(cause, d, incident) for d in dependants)
            quoted = incident.nearer[cause.node] = [q for q in found if q is not None]
        if not quoted:
            return ""
        more = f" (and {len(quoted) - 2} more)" if len(quoted) > 2 else ""
        return "; ".join(text for _, text in quoted[:2]) + more

    def _quoted(
        self, cause: _Suspect, dependant: str, incident: _Incident
    ) -> tuple[str, str] | None:
        """A dependant that began nearer to another failing dependency than to the cause,
        as evidence quotes it (None: it did not)."""
        late, other = self._later(cause, dependant, incident)
        if late <= 0:
            return None
        onset = incident.suspects[dependant].onset
        return dependant, (
            f"{dependant} began {_apart(onset, cause.onset)} {cause.node}, "
            f"{_apart(onset, other.onset)} {other.node}"
        )

    def _precedes(
        self, suspect: _Suspect, failing_deps: Sequence[_Suspect], incident: _Incident
    ) -> float:
        """Whether a node deviated before the failing nodes it is connected to (0..1): a
        cause comes before its effects. Timing against unconnected alerts says nothing
        (0.5), so an unrelated early alert is no suspect for being early."""
        node = suspect.node
        dependants = incident.failing_above.get(node, ())
        if not failing_deps and not dependants:
            return 0.5
        below = min(map(_ONSET_OF, failing_deps), default=math.inf)
        earliest = min(incident.earliest_above(node), below)
        if earliest >= suspect.onset:
            return 1.0  # before each of them: every one counts 1 (kept for thousands)
        if not dependants:  # a symptom: its few terms are not kept, for a storm's thousands
            return math.fsum(self._before(suspect, o) for o in failing_deps) / len(failing_deps)
        terms = incident.preceded.get(node)
        if terms is None:
            related = [*failing_deps, *map(incident.suspects.__getitem__, dependants)]
            terms = incident.preceded[node] = _Sum(self._before(suspect, o) for o in related)
        return terms.total() / terms.count  # in whatever order they joined: exactly rounded

    def _before(self, suspect: _Suspect, other: _Suspect) -> float:
        """How far a node began before one it is connected to (1: before it; down to 0 a
        ``window`` after)."""
        window = max(self.config.window, 1.0)
        return max(0.0, 1.0 - max(0.0, suspect.onset - other.onset) / window)

    def _stand_ins(self, suspects: dict[str, _Suspect]) -> dict[str, list[_Suspect]]:
        """For each failing remote endpoint with nothing failing below it: the failing
        services its callers also call. Its trouble may be theirs seen from outside (a load
        balancer's host name in front of the service behind it), which a service map drawn
        from traces does not link to it."""
        topology, stand_ins = self.topology, {}
        for node in suspects:
            if node not in topology.remote:
                continue
            below = topology.below(node)
            if any(other in below for other in suspects):
                continue
            callers = topology.callers(node)
            behind = [
                suspect
                for other, suspect in suspects.items()
                if other != node
                and other not in topology.remote
                and any(topology.calls(caller, other) for caller in callers)
            ]
            if behind:
                stand_ins[node] = behind
        return stand_ins

    def _unexplained(
        self, suspect: _Suspect, failing_deps: Sequence[_Suspect], relation: str = "depends on"
    ) -> tuple[float, str]:
        """How much of a node's trouble its failing dependencies (or, for a remote
        endpoint, the services it may front) do not explain (0..1).

        A dependency explains a deviation of the same failure class in proportion to its own
        (a database 0.28 s slower explains 93% of an API 0.30 s slower, see ``_counterpart``
        for which statistics are compared); deviations of other classes only explain none of
        it; a failing dependency whose alerts say nothing of size (a check that is down)
        explains all of it, as a person would assume. A node is as explained as its
        best-explained deviation: one a dependency accounts for shows it a symptom, and its
        other measures are the same trouble seen in other statistics.
        """
        if not failing_deps:
            return 1.0, ""
        related = f"{suspect.node} {relation} " + ", ".join(sorted(d.node for d in failing_deps))
        explained = [(e, dep) for dep in failing_deps if (e := _explained(dep, suspect))]
        if not explained and suspect.deviations and any(d.deviations for d in failing_deps):
            return 1.0, f"{related}, failing on other measures only"
        if not explained:
            return 0.0, f"{related}, also failing"
        (share, kind, counterpart), dep = max(explained, key=lambda e: (e[0][0], e[1].node))
        theirs, own = _sized(dep, counterpart), _sized(suspect, kind)
        if dep.sigmas.get(counterpart, EXPLAIN_SIGMAS) < EXPLAIN_SIGMAS:
            return 1.0, (
                f"{related}, also failing; {dep.node}'s deviation ({theirs}) is no more"
                f" than it often moves: it explains none of {suspect.node}'s ({own})"
            )
        return 1.0 - share, (
            f"{related}, also failing; {dep.node}'s deviation ({theirs})"
            f" explains {share:.0%} of {suspect.node}'s ({own})"
        )

    def _change(self, node: str, onset: float, changes: Sequence[Change]) -> tuple[float, str]:
        """How strongly a recent change on ``node`` makes it a suspect (1 just before)."""
        best, note = 0.0, ""
        for change in changes:
            if change.service != node or change.at > onset + self.config.window:
                continue
            recency = 1.0 - max(0.0, onset - change.at) / self.config.change_window
            if recency > best:
                best = recency
                when = f"{onset - change.at:.0f} s before" if change.at <= onset else "after"
                version = f" {change.version}" if change.version else ""
                note = (
                    f"{change.kind}{version} on {node} at {_clock(change.at)} "
                    f"({when} the first alert): {change.summary}"
                )
        return best, note

    def _changed_causes(
        self, suspects: dict[str, _Suspect], first: _Suspect, changes: Sequence[Change]
    ) -> list[_Ranked]:
        """Services changed shortly before the trouble that alerting services depend on,
        though they do not alert themselves (PagerDuty-style change correlation)."""
        causes = []
        for service in sorted({c.service for c in changes} - suspects.keys()):
            dependants = sorted(m for m in suspects if self.topology.depends_on(m, service))
            change, note = self._change(service, first.onset, changes)
            if not dependants or change <= 0:
                continue
            parts = {
                "graph": _UNALERTED_GRAPH,
                "onset": 1.0,
                "breadth": len(dependants) / len(suspects),
                "strength": 0.0,
                "change": change,
            }
            evidence = (
                note,
                _failing_dependants(dependants, service),
                f"{service} itself is not alerting",
            )
            score = round(sum(_WEIGHTS[k] * v for k, v in parts.items()), 3)
            cause = RootCause(service, score, evidence, "change")
            causes.append(((-score, first.onset, service), cause))
        return causes


def _among(alerts: Sequence[Alert], ids: set[int]) -> list[Alert]:
    """The alerts with these ``id``s, looked for from the end: what joined an incident
    comes after what it held, and the rest need not be read."""
    found: list[Alert] = []
    for alert in reversed(alerts):
        if len(found) == len(ids):
            break
        if id(alert) in ids:
            found.append(alert)
    return found


def _timing(suspect: _Suspect, incident: _Incident) -> str:
    """The evidence line of when a suspect began, next to the first."""
    first = incident.first
    if suspect.onset == first.onset:
        return "first to fire" if len(incident.suspects) > 1 else "only service alerting"
    return f"fired {suspect.onset - first.onset:.0f} s after {first.node}"


def _tied(cause: RootCause, incident: _Incident) -> RootCause:
    """A candidate as the ranking gives it: its line of when it began names who began at
    the same time (a tie says nothing of which of them came first). Added to the few
    candidates given, not weighed into each suspect: in a storm whose alerts began at
    the same evaluations, each newcomer changed that line for thousands."""
    suspect = incident.suspects.get(cause.node)
    if suspect is None:  # a changed service that is not alerting
        return cause
    # All who began then, the cause among them: thousands, where a storm's alerts began
    # at the same evaluations, of whom a few are named.
    tied = incident.together.get(suspect.onset, ())
    if len(tied) < 2:
        return cause
    shown = 3
    alongside = [n for n in tied[: shown + 1] if n != cause.node][:shown]
    evidence = list(cause.evidence)
    line = evidence.index(_timing(suspect, incident))
    evidence[line] += f", at the same time as {some_of(alongside, shown, of=len(tied) - 1)}"
    return RootCause(cause.node, cause.score, tuple(evidence), cause.failure)


def _listed(suspect: _Suspect) -> tuple[float, str]:
    """Where a ranking from nothing lists a suspect: by onset, then by the fingerprint of
    its first alert (alerts are put in that order before suspects are made of them)."""
    return suspect.onset, suspect.alerts[0].fingerprint


def _failing_dependants(dependants: Sequence[str], node: str) -> str:
    """The evidence line that ``dependants``, which depend on ``node``, are failing.

    >>> _failing_dependants(["api"], "db"), _failing_dependants(["api", "web"], "db")
    ('api depends on db and is failing', 'api, web depend on db and are failing')
    """
    if len(dependants) == 1:
        return f"{dependants[0]} depends on {node} and is failing"
    return f"{_named(dependants)} depend on {node} and are failing"


def _named(nodes: Sequence[str]) -> str:
    """Nodes as evidence names them: evidence is stored with each ranking, sent in pages
    and read by a person."""
    return some_of(nodes, NAMED_IN_EVIDENCE)


def _apart(onset: float, other: float) -> str:
    """How one onset stands to another, as evidence says it.

    >>> _apart(250.0, 9.0), _apart(9.0, 12.5)
    ('241 s after', '4 s before')
    """
    gap = onset - other
    return f"{abs(gap):.0f} s {'after' if gap >= 0 else 'before'}"
