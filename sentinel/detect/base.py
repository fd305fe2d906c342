"""The detector protocol: score a batch of samples for many series at once.

A detector keeps whatever state it needs per series and returns only transitions: an
``Alert`` that starts firing, or one that resolves. Re-evaluating an unchanged condition
returns nothing, so downstream stages see each change exactly once. After a restart the
daemon hands back the alerts still active in the store (``restore``) so a detector resumes
instead of firing them again. What a detector has learned (baselines, profiles, ranges) is
saved as a ``snapshot`` in the store now and then and when the daemon stops, and ``load``ed
when it starts, so a restart or an upgrade does not send every series back to learning.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import ClassVar, Protocol

from sentinel.model import Alert, SampleBatch
from sentinel.registry import Registry
from sentinel.schema import StrictModel


class DetectorConfig(StrictModel):
    name: str
    kind: str


class Detector(Protocol):
    """All configured rules of one kind; plugins register under ``detectors`` by kind."""

    Config: ClassVar[type[DetectorConfig]]

    @classmethod
    def from_configs(cls, configs: Sequence[DetectorConfig]) -> Detector: ...

    def observe(self, batch: SampleBatch, now: float) -> list[Alert]: ...

    def restore(self, active: Iterable[Alert]) -> None: ...

    def snapshot(self) -> bytes:
        """What it has learned, to save; empty when nothing worth keeping."""
        ...

    def load(self, snapshot: bytes) -> None:
        """Take back a ``snapshot`` (before ``restore``); one it cannot use is ignored."""
        ...


detectors: Registry[type[Detector]] = Registry("detector")


class TemplateValues(dict[str, str]):
    """Format mapping that leaves unknown ``{placeholders}`` visible instead of failing."""

    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def render(template: str, values: dict[str, str]) -> str:
    """Fill an annotation template from labels and the value.

    >>> render("{target} is down ({value})", {"target": "web", "value": "0"})
    'web is down (0)'
    >>> render("{nope} stays", {})
    '{nope} stays'
    """
    try:
        return template.format_map(TemplateValues(values))
    except (ValueError, IndexError, AttributeError):
        return template
