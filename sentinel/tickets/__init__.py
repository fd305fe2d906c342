"""The desk: incidents and tickets, priority, SLAs, escalation, and delivery to the outside.

Importing this package registers every built-in sink in ``sinks``.
"""

from sentinel.tickets import notify
from sentinel.tickets.base import DeliveryError, Sink, sinks
from sentinel.tickets.desk import Desk, DeskError
from sentinel.tickets.outbox import Outbox
from sentinel.tickets.policy import DeskSettings, EscalationPolicyConfig, LevelConfig

__all__ = [
    "DeliveryError",
    "Desk",
    "DeskError",
    "DeskSettings",
    "EscalationPolicyConfig",
    "LevelConfig",
    "Outbox",
    "Sink",
    "notify",
    "sinks",
]
