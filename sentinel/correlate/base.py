"""The correlation protocol: where does a new alert belong, and what caused an incident?

A correlator makes two pure decisions from what it is shown: ``place`` picks the open
incident a firing alert joins (or None: open a new one), and ``rank`` orders root-cause
candidates for an incident's alerts, with the evidence behind each. It changes no state;
the pipeline applies its answers through the desk.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from sentinel.model import Alert, Incident, RootCause
from sentinel.registry import Registry


@dataclass(frozen=True, slots=True)
class OpenIncident:
    """An unresolved incident with the alerts still firing in it."""

    incident: Incident
    alerts: tuple[Alert, ...]


class Correlator(Protocol):
    def place(self, alert: Alert, candidates: Sequence[OpenIncident], now: float) -> int | None:
        """The id of the incident the alert joins, or None to open a new one."""
        ...

    def rank(self, alerts: Sequence[Alert]) -> tuple[RootCause, ...]: ...

    def services(self, alerts: Sequence[Alert]) -> tuple[str, ...]:
        """The services the alerts touch, for impact and the incident's scope."""
        ...


correlators: Registry[type[Correlator]] = Registry("correlation strategy")
