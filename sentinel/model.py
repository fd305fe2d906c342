"""The few frozen types that cross stage boundaries.

Stages talk only through these: collectors emit ``SampleBatch``, detectors turn samples into
``Alert`` transitions, correlation groups alerts into ``Incident`` records, and the desk keeps a
``Ticket`` per incident. Timestamps are unix seconds (float); the API renders RFC 3339.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Iterable, Mapping, Sequence, Set
from dataclasses import dataclass, field
from enum import StrEnum
from itertools import chain
from typing import Any, NamedTuple

import msgspec
import numpy as np
from msgspec import structs


def freeze_labels(labels: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    """Labels as a sorted tuple: hashable, and equal for equal label sets."""
    return tuple(sorted((str(k), str(v)) for k, v in labels.items()))


class Series(NamedTuple):
    """One time series: a metric name plus labels.

    A tuple, so that hashing and comparing it run in C: detectors look every sample's
    series up by it, and collectors build the series afresh on every scrape.

    >>> Series.of("up", {"target": "web"}).label("target")
    'web'
    """

    name: str
    labels: tuple[tuple[str, str], ...]

    @classmethod
    def of(cls, name: str, labels: Mapping[str, str] | None = None) -> Series:
        return cls(name, freeze_labels(labels or {}))

    def label(self, key: str, default: str = "") -> str:
        for k, v in self.labels:
            if k == key:
                return v
        return default

    @property
    def label_map(self) -> dict[str, str]:
        return dict(self.labels)


@dataclass(frozen=True, slots=True)
class SampleBatch:
    """Samples moved in columns: ``series[i]`` had ``values[i]`` at ``ts[i]``."""

    series: tuple[Series, ...]
    ts: np.ndarray
    values: np.ndarray

    @classmethod
    def from_rows(cls, rows: Iterable[tuple[Series, float, float]]) -> SampleBatch:
        rows = list(rows)
        return cls(
            series=tuple(r[0] for r in rows),
            ts=np.fromiter((r[1] for r in rows), dtype=np.float64, count=len(rows)),
            values=np.fromiter((r[2] for r in rows), dtype=np.float64, count=len(rows)),
        )

    def __len__(self) -> int:
        return len(self.series)


class AlertStatus(StrEnum):
    FIRING = "firing"
    RESOLVED = "resolved"


class Severity(StrEnum):
    CRITICAL = "critical"
    WARNING = "warning"
    INFO = "info"


_SEVERITIES = {s.value: s for s in Severity}  # a lookup costs less than Severity(text)


def fingerprint(labels: Mapping[str, str]) -> str:
    """Stable identity of an alert, derived from its labels alone (as Alertmanager does).

    >>> fingerprint({"b": "2", "a": "1"}) == fingerprint({"a": "1", "b": "2"})
    True

    Stored state holds fingerprints, so they must not change from one version to the next:

    >>> fingerprint({"alertname": "A", "service": "s", "b": "x"})
    '77d023d2e79b16a4'
    """
    return items_fingerprint(tuple(labels.items()))


@functools.lru_cache(maxsize=16384)  # senders re-send the same alerts over and over
def items_fingerprint(items: tuple[tuple[str, str], ...]) -> str:
    """``fingerprint`` of labels given as their (name, value) pairs, in any order."""
    text = "\xff".join(chain.from_iterable(sorted(items)))  # k1 \xff v1 \xff k2 \xff v2 …
    return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()


class Alert(msgspec.Struct, frozen=True, gc=False):
    """A firing or resolved condition on one series or check.

    A frozen msgspec struct rather than a dataclass: it is built in C, 0.2 µs against the
    1.3 µs a dataclass took, and pushed alerts arrive by the ten thousand. Untracked by the
    cyclic collector (it holds text only, so it is never part of a cycle), so that many do
    not set off collections. Change a copy with ``replace``, which keeps the fingerprint
    true to the labels.
    """

    labels: Mapping[str, str]
    annotations: Mapping[str, str]
    status: AlertStatus
    starts_at: float
    ends_at: float | None = None
    source: str = "rule"
    score: float = 1.0
    generator_url: str = ""
    fingerprint: str = ""  # of the labels: given by a caller that has it, computed if not

    def __post_init__(self) -> None:
        if not self.fingerprint:
            structs.force_setattr(
                self, "fingerprint", items_fingerprint(tuple(self.labels.items()))
            )

    def replace(self, **changes: Any) -> Alert:
        """A copy with ``changes``; new labels get their own fingerprint.

        >>> down = Alert({"alertname": "Down"}, {}, AlertStatus.FIRING, 0.0)
        >>> down.replace(status=AlertStatus.RESOLVED).fingerprint == down.fingerprint
        True
        >>> down.replace(labels={"alertname": "Up"}).fingerprint == fingerprint({"alertname": "Up"})
        True
        """
        if "labels" in changes:
            changes["fingerprint"] = ""
        return structs.replace(self, **changes)

    @property
    def name(self) -> str:
        return self.labels.get("alertname", "")

    @property
    def severity(self) -> Severity:
        """The ``severity`` label; anything else counts as a warning."""
        return _SEVERITIES.get(self.labels.get("severity", ""), Severity.WARNING)

    @property
    def summary(self) -> str:
        return self.annotations.get("summary") or self.name


class Placement(NamedTuple):
    """A firing alert as correlation placed it: the node and group key it is found by."""

    alert: Alert
    node: str = ""
    group_key: str = ""


class IncidentStatus(StrEnum):
    """new → acknowledged → resolved → closed; a resolved incident may reopen, a closed
    one is final (the same trouble later is a new incident)."""

    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"
    CLOSED = "closed"


def some_of(names: Sequence[str], shown: int, of: int | None = None) -> str:
    """The first ``shown`` names and how many more (of ``of`` in all, where ``names`` are
    only the first of them): a storm on a service thousands depend on touches thousands,
    and a line that names each is unreadable, too long for a page, and stored again with
    every ranking.

    >>> some_of(["a", "b"], 3), some_of([f"svc-{n}" for n in range(1500)], 2)
    ('a, b', 'svc-0, svc-1 and 1,498 more')
    >>> some_of(["a", "b", "c"], 2, of=10)
    'a, b and 8 more'
    """
    total = len(names) if of is None else of
    if total <= shown:
        return ", ".join(names[:shown])
    return f"{', '.join(names[:shown])} and {total - shown:,} more"


@dataclass(frozen=True, slots=True)
class RootCause:
    """A ranked root-cause candidate and the evidence a person can check."""

    node: str
    score: float
    evidence: tuple[str, ...] = ()
    failure: str = ""  # the failure class of its strongest alert (alertname, metric)

    @property
    def signature(self) -> str:
        """What recurs when the same thing breaks the same way: node and failure class."""
        return f"{self.node}/{self.failure}" if self.failure else self.node


@dataclass(frozen=True, slots=True)
class Incident:
    id: int
    title: str
    status: IncidentStatus
    priority: str
    impact: int
    urgency: int
    services: tuple[str, ...]
    root_causes: tuple[RootCause, ...]
    policy: str
    created_at: float
    updated_at: float
    acknowledged_at: float | None = None
    resolved_at: float | None = None
    escalation_level: int = 0
    escalation_cycle: int = 0
    next_escalation_at: float | None = None
    # In the alerts' own time, not when sentinel heard of them, so that correlation places
    # alerts alike however late or in what batches they arrive: the start of the alert
    # that opened (or reopened) it, and the latest start of an alert in it.
    began_at: float | None = None
    active_at: float | None = None


@dataclass(frozen=True, slots=True)
class OpenIncident:
    """What correlation needs to know of an unresolved incident to place an alert in it."""

    id: int
    root: str  # the node of its likeliest root cause
    updated_at: float
    firing: bool  # whether any of its alerts still fires
    opened_at: float | None = None  # when its trouble began (None: unknown, no time bound)
    active_at: float | None = None  # the latest start of an alert in it (None: updated_at)
    services: Set[str] = frozenset()  # the services alerting in it
    # when each service began alerting in it, where known (else: ``opened_at``)
    onsets: Mapping[str, float] = field(default_factory=dict)
    # when each service with nothing firing in it any more stopped (its last alert's end)
    healed: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Ticket:
    """The desk's view of an incident: where it lives and when its SLA falls due."""

    id: int
    incident_id: int
    sink: str
    acknowledge_due: float
    resolve_due: float
    external_ref: str | None = None
    ack_breached: bool = False
    resolve_breached: bool = False


@dataclass(frozen=True, slots=True)
class TimelineEntry:
    incident_id: int
    at: float
    kind: str
    text: str
    actor: str = "sentinel"


@dataclass(frozen=True, slots=True)
class GroupingHint:
    """An operator's regrouping, remembered: alerts on services ``a`` and ``b`` belong in
    one incident (a merge) or apart (a split). Correlation follows it from then on."""

    a: str
    b: str
    together: bool
    at: float
    actor: str = "sentinel"


@dataclass(frozen=True, slots=True)
class Change:
    """A deploy or configuration change: a suspect when trouble follows it."""

    id: int
    service: str
    kind: str
    summary: str
    at: float
    version: str = ""
    author: str = ""


class ProblemStatus(StrEnum):
    OPEN = "open"
    KNOWN_ERROR = "known_error"
    RESOLVED = "resolved"


@dataclass(frozen=True, slots=True)
class Problem:
    """An ITIL problem: one root-cause signature that keeps causing incidents."""

    id: int
    signature: str
    status: str
    occurrences: int
    first_seen: float
    last_seen: float
    services: tuple[str, ...] = ()
    workaround: str = ""
    resolved_at: float | None = None

    @property
    def mtbf(self) -> float | None:
        """Mean time between the incidents' starts, in seconds (None below two)."""
        if self.occurrences < 2:
            return None
        return (self.last_seen - self.first_seen) / (self.occurrences - 1)
