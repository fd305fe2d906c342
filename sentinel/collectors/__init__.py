"""Collectors: poll targets and turn what they say into samples.

Importing this package registers every built-in kind in ``collectors``.
"""

from sentinel.collectors import host, http
from sentinel.collectors.base import Collector, PollResult, Reading, TargetConfig, collectors, poll

__all__ = [
    "Collector",
    "PollResult",
    "Reading",
    "TargetConfig",
    "collectors",
    "host",
    "http",
    "poll",
]
