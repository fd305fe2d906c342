"""The correlation protocol: where does a new alert belong, and what caused an incident?

A correlator makes pure decisions from what it is shown. ``node`` and ``group_key`` say
what an alert is about; ``scope`` names the nodes whose incidents it might join, so the
store fetches only those; ``place`` picks the incident it joins (or None: open a new one);
``rank`` orders root-cause candidates, with evidence, from one representative alert per
node; ``learn`` takes what operators taught by regrouping incidents by hand. It changes no
state: the pipeline applies its answers through the desk.
"""

from __future__ import annotations

from collections.abc import Collection, Hashable, Iterator, Sequence
from typing import Protocol

from sentinel.model import Alert, Change, GroupingHint, OpenIncident, RootCause
from sentinel.registry import Registry


class Scope(Protocol):
    """The nodes an alert's incidents may lie on: beside a service thousands depend on,
    most of the graph, so it answers for them without listing them all."""

    at_most: int  # how many nodes it holds at most, known without listing them

    def __contains__(self, node: object) -> bool: ...

    def __iter__(self) -> Iterator[str]: ...

    def __bool__(self) -> bool: ...

    def meets(self, nodes: Collection[str]) -> bool:
        """Whether it holds any of ``nodes``."""
        ...


class Correlator(Protocol):
    def node(self, alert: Alert) -> str:
        """The service (or other thing) an alert is about."""
        ...

    def group_key(self, alert: Alert) -> str:
        """What groups alerts that fall outside the topology."""
        ...

    def scope(self, node: str) -> Scope:
        """Nodes whose incidents an alert on ``node`` may join (empty: outside the graph)."""
        ...

    def place(self, alert: Alert, candidates: Sequence[OpenIncident], now: float) -> int | None:
        """The id of the incident the alert joins, or None to open a new one."""
        ...

    def rank(
        self,
        alerts: Sequence[Alert],
        changes: Sequence[Change] = (),
        kept_as: Hashable | None = None,
    ) -> tuple[RootCause, ...]:
        """Root-cause candidates, best first, from one representative alert per node (and
        failure class) and the recent changes; ``kept_as`` names the incident, whose next
        ranking may then start from this one."""
        ...

    def rank_added(
        self, kept_as: Hashable, added: Sequence[Alert], changes: Sequence[Change] = ()
    ) -> tuple[RootCause, ...] | None:
        """The ranking kept under ``kept_as`` once ``added`` joined what it read, and
        nothing else changed; None to rank from all the incident holds."""
        ...

    def learn(self, hints: Sequence[GroupingHint]) -> None:
        """Operators' merges and splits, to follow from now on (all of them, each time)."""
        ...

    def services(self, alerts: Sequence[Alert]) -> tuple[str, ...]:
        """The services the alerts touch, for impact and the incident's scope."""
        ...


correlators: Registry[type[Correlator]] = Registry("correlation strategy")
