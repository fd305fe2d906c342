"""Collectors: poll targets and turn what they say into samples.

Importing this package registers every built-in kind in ``collectors``.
"""

from sentinel.collectors import dns, host, http, nagios, prometheus, promql, replay, tcp
from sentinel.collectors.base import Collector, PollResult, Reading, TargetConfig, collectors, poll

__all__ = [
    "Collector",
    "PollResult",
    "Reading",
    "TargetConfig",
    "collectors",
    "dns",
    "host",
    "http",
    "nagios",
    "poll",
    "prometheus",
    "promql",
    "replay",
    "tcp",
]
