"""The desk: incidents and tickets, priority, SLAs, escalation, and delivery to the outside.

Importing this package registers every built-in sink in ``sinks`` and every external desk
and pager kind in ``external_desks``.
"""

from sentinel.tickets import desks, notify
from sentinel.tickets.base import BUILT_IN_SINKS, DeliveryError, Sink, sinks
from sentinel.tickets.desk import Desk, DeskError
from sentinel.tickets.external import ExternalConfig, external_desks
from sentinel.tickets.outbox import Outbox
from sentinel.tickets.policy import DeskSettings, EscalationPolicyConfig, LevelConfig

__all__ = [
    "BUILT_IN_SINKS",
    "DeliveryError",
    "Desk",
    "DeskError",
    "DeskSettings",
    "EscalationPolicyConfig",
    "ExternalConfig",
    "LevelConfig",
    "Outbox",
    "Sink",
    "desks",
    "external_desks",
    "notify",
    "sinks",
]
