"""Correlation: fold related alerts into one incident and rank its root causes.

Importing this package registers every built-in strategy in ``correlators``.
"""

from sentinel.correlate import grouping
from sentinel.correlate.base import Correlator, OpenIncident, correlators
from sentinel.correlate.topology import CorrelationConfig, ServiceConfig, Topology

__all__ = [
    "CorrelationConfig",
    "Correlator",
    "OpenIncident",
    "ServiceConfig",
    "Topology",
    "correlators",
    "grouping",
]
