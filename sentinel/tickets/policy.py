"""The desk's rules: priority matrix, SLA targets and escalation policies.

Priority follows ITIL: impact (from the affected services' business tier and how many are
hit) crossed with urgency (from alert severity) gives P1..P5 through a 3×3 matrix.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Annotated

import apprise
from pydantic import AfterValidator, Field, field_validator

from sentinel.model import Severity
from sentinel.schema import Duration, StrictModel
from sentinel.tickets.calendar import CalendarConfig
from sentinel.tickets.external import ExternalConfig
from sentinel.tickets.messages import TemplatesConfig

ITIL_MATRIX = (("P1", "P2", "P3"), ("P2", "P3", "P4"), ("P3", "P4", "P5"))
PRIORITIES = ("P1", "P2", "P3", "P4", "P5")


def _parse(url: str) -> apprise.plugins.NotifyBase | None:
    """Apprise's plugin for a URL; apprise's own log line would print the URL unmasked."""
    logger = logging.getLogger("apprise")
    level = logger.level
    logger.setLevel(logging.CRITICAL + 1)
    try:
        return apprise.Apprise.instantiate(url, suppress_exceptions=True)
    finally:
        logger.setLevel(level)


def apprise_url_problem(url: str) -> str | None:
    """Why apprise cannot use this URL, or None if it can."""
    return None if _parse(url) is not None else "not a notification URL apprise understands"


def masked(url: str) -> str:
    """The URL as apprise prints it with secrets hidden; the only form we ever log.

    >>> masked("json://user:hunter2@127.0.0.1:8080/hook").startswith("json://user:****@")
    True
    """
    plugin = _parse(url)
    return plugin.url(privacy=True) if plugin is not None else "<invalid notification URL>"


class PriorityConfig(StrictModel):
    matrix: list[list[str]] = Field(default_factory=lambda: [list(r) for r in ITIL_MATRIX])
    urgency: dict[Severity, Annotated[int, Field(ge=1, le=3)]] = Field(
        default_factory=lambda: {Severity.CRITICAL: 1, Severity.WARNING: 2, Severity.INFO: 3}
    )
    breadth: int = Field(3, ge=1, description="services hit at which impact rises one step")

    @field_validator("matrix")
    @classmethod
    def _three_by_three(cls, matrix: list[list[str]]) -> list[list[str]]:
        if len(matrix) != 3 or any(len(row) != 3 for row in matrix):
            raise ValueError("matrix must be 3 rows (impact 1-3) of 3 columns (urgency 1-3)")
        bad = sorted({p for row in matrix for p in row if p not in PRIORITIES})
        if bad:
            raise ValueError(f"unknown priorities {bad}; use {', '.join(PRIORITIES)}")
        return matrix


class SlaTarget(StrictModel):
    acknowledge: Duration
    resolve: Duration
    calendar: str = Field("", description="count only this calendar's working time")


DEFAULT_SLA = {
    "P1": SlaTarget(acknowledge=15 * 60, resolve=4 * 3600),
    "P2": SlaTarget(acknowledge=30 * 60, resolve=8 * 3600),
    "P3": SlaTarget(acknowledge=4 * 3600, resolve=24 * 3600),
    "P4": SlaTarget(acknowledge=8 * 3600, resolve=72 * 3600),
    "P5": SlaTarget(acknowledge=24 * 3600, resolve=7 * 86400),
}


def _notification_url(url: str) -> str:
    problem = apprise_url_problem(url)
    if problem:
        raise ValueError(f"{masked(url)}: {problem}")
    return url


NotifyUrl = Annotated[str, AfterValidator(_notification_url)]
TEAM_PREFIX = "team:"


def _target(target: str) -> str:
    """An apprise URL, or ``team:NAME`` (checked against ``teams:`` by the loader)."""
    return target if target.startswith(TEAM_PREFIX) else _notification_url(target)


NotifyTarget = Annotated[str, AfterValidator(_target)]


class RotationConfig(StrictModel):
    """An on-call rotation: ``members`` take turns of ``shift`` from ``start``."""

    members: list[NotifyUrl] = Field(min_length=1)
    shift: Duration = Field(7 * 86400.0, gt=0)
    start: float = Field(0.0, description="unix time the first member's shift began")

    def on_call(self, now: float) -> str:
        """The member on call at ``now``.

        >>> RotationConfig(members=["json://a", "json://b"], shift=10, start=0).on_call(15)
        'json://b'
        """
        turn = int((now - self.start) // self.shift)
        return self.members[turn % len(self.members)]


class TeamConfig(StrictModel):
    name: str
    notify: list[NotifyUrl] = Field(default_factory=list, description="always notified")
    rotation: RotationConfig | None = None

    def targets(self, now: float) -> list[str]:
        return [*self.notify, *([self.rotation.on_call(now)] if self.rotation else [])]


class EscalationConfig(StrictModel):
    max_hold: Duration = Field(
        30 * 60.0, gt=0, description="longest a level may hold an incident before it moves up"
    )


class LifecycleConfig(StrictModel):
    close_after: Duration = Field(
        86400.0, gt=0, description="a resolved incident closes (final) after this long"
    )


class LevelConfig(StrictModel):
    notify: list[NotifyTarget] = Field(
        default_factory=list, description="apprise URLs or team:NAME"
    )
    escalate_after: Duration = 15 * 60.0


class EscalationPolicyConfig(StrictModel):
    name: str
    levels: list[LevelConfig] = Field(min_length=1)
    repeat: int = Field(0, ge=0, description="times to start over after the last level")


DEFAULT_POLICY = EscalationPolicyConfig(name="default", levels=[LevelConfig()])


@dataclass(frozen=True)
class DeskSettings:
    """Everything the desk decides by, resolved from configuration."""

    priority: PriorityConfig = field(default_factory=PriorityConfig)
    sla: dict[str, SlaTarget] = field(default_factory=lambda: dict(DEFAULT_SLA))
    policies: dict[str, EscalationPolicyConfig] = field(
        default_factory=lambda: {"default": DEFAULT_POLICY}
    )
    external: list[ExternalConfig] = field(default_factory=list)  # the ``sinks:`` section
    teams: dict[str, TeamConfig] = field(default_factory=dict)
    lifecycle: LifecycleConfig = field(default_factory=LifecycleConfig)
    calendars: dict[str, CalendarConfig] = field(default_factory=dict)
    templates: TemplatesConfig = field(default_factory=TemplatesConfig)

    def targets(self, notify: list[str], now: float) -> list[str]:
        """A level's targets as URLs: each team's members and who is on call at ``now``."""
        urls: list[str] = []
        for target in notify:
            if target.startswith(TEAM_PREFIX):
                team = self.teams.get(target.removeprefix(TEAM_PREFIX))
                urls += team.targets(now) if team else []
            else:
                urls.append(target)
        return list(dict.fromkeys(urls))

    def urgency(self, severity: Severity) -> int:
        return self.priority.urgency.get(severity, 2)

    def impact(self, tiers: Sequence[int]) -> int:
        """Most critical tier hit, one step worse when many services are hit.

        >>> DeskSettings().impact([2, 3]), DeskSettings().impact([2, 2, 3])
        (2, 1)
        """
        impact = min(tiers, default=3)
        if len(tiers) >= self.priority.breadth:
            impact = max(1, impact - 1)
        return impact

    def priority_of(self, impact: int, urgency: int) -> str:
        """Look up the matrix: impact row, urgency column.

        >>> DeskSettings().priority_of(2, 3)
        'P4'
        """
        return self.priority.matrix[impact - 1][urgency - 1]

    def policy(self, name: str) -> EscalationPolicyConfig:
        return self.policies.get(name) or self.policies.get("default") or DEFAULT_POLICY

    def sla_for(self, priority: str) -> SlaTarget:
        return self.sla.get(priority) or DEFAULT_SLA[priority]

    def deadlines(self, priority: str, now: float) -> tuple[float, float]:
        """When the incident must be acknowledged and resolved, on the SLA's calendar
        (around the clock without one)."""
        sla = self.sla_for(priority)
        calendar = self.calendars.get(sla.calendar)
        if calendar is None:
            return now + sla.acknowledge, now + sla.resolve
        return calendar.add(now, sla.acknowledge), calendar.add(now, sla.resolve)
