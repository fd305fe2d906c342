"""Silences: label matchers over a time range that keep matching alerts from paging.

The matcher semantics are Alertmanager's (``=``, ``!=``, ``=~``, ``!~``; regexes anchored),
so silences made with ``amtool`` mean the same here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property
from typing import Literal

_MATCHER = re.compile(
    r'^\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*(?:"((?:[^"\\]|\\.)*)"|([^"]*?))\s*$'
)


@dataclass(frozen=True)
class Matcher:
    name: str
    value: str
    is_regex: bool = False
    is_equal: bool = True

    @cached_property
    def _pattern(self) -> re.Pattern[str]:
        return re.compile(f"^(?:{self.value})$")

    def matches(self, labels: dict[str, str]) -> bool:
        """An absent label matches as the empty string, as in Alertmanager.

        >>> Matcher("env", "prod|stage", is_regex=True).matches({"env": "prod"})
        True
        >>> Matcher("env", "prod", is_equal=False).matches({})
        True
        """
        value = labels.get(self.name, "")
        hit = bool(self._pattern.match(value)) if self.is_regex else value == self.value
        return hit == self.is_equal

    @classmethod
    def parse(cls, text: str) -> Matcher:
        """``name="value"``, ``name!=value``, ``name=~"regex"`` or ``name!~regex``.

        >>> Matcher.parse('alertname=~"Disk.*"')
        Matcher(name='alertname', value='Disk.*', is_regex=True, is_equal=True)
        """
        match = _MATCHER.match(text)
        if match is None:
            raise ValueError(
                f"invalid matcher {text!r}: expected name=value, name!=value, "
                "name=~regex or name!~regex"
            )
        name, op, quoted, bare = match.groups()
        value = quoted.encode().decode("unicode_escape") if quoted is not None else bare
        matcher = cls(name, value, is_regex="~" in op, is_equal=not op.startswith("!"))
        matcher.check()
        return matcher

    def check(self) -> None:
        if self.is_regex:
            try:
                re.compile(self.value)
            except re.error as exc:
                raise ValueError(f"matcher {self.name}: invalid regex: {exc}") from None

    def __str__(self) -> str:
        op = (
            ("=" if self.is_equal else "!=")
            if not self.is_regex
            else ("=~" if self.is_equal else "!~")
        )
        return f'{self.name}{op}"{self.value}"'


SilenceState = Literal["pending", "active", "expired"]


@dataclass(frozen=True)
class Silence:
    id: str
    matchers: tuple[Matcher, ...]
    starts_at: float
    ends_at: float
    created_by: str
    comment: str
    updated_at: float

    @classmethod
    def create(
        cls,
        silence_id: str,
        matchers: tuple[Matcher, ...],
        starts_at: float,
        ends_at: float,
        created_by: str,
        comment: str,
        now: float,
    ) -> Silence:
        """A new (or updated) silence, refused as Alertmanager refuses it."""
        if not matchers:
            raise ValueError("at least one matcher is required")
        for matcher in matchers:
            matcher.check()
        if ends_at < starts_at:
            raise ValueError("end time must not be before start time")
        if ends_at <= now:
            raise ValueError("end time can't be in the past")
        if all(m.matches({}) for m in matchers):
            raise ValueError("at least one matcher must not match all labels")
        return cls(silence_id, matchers, max(starts_at, now), ends_at, created_by, comment, now)

    def expire(self, now: float) -> Silence:
        """This silence ended now (an expired one stays as it was)."""
        if self.state(now) == "expired":
            return self
        starts = min(self.starts_at, now)
        return Silence(self.id, self.matchers, starts, now, self.created_by, self.comment, now)

    def state(self, now: float) -> SilenceState:
        if now < self.starts_at:
            return "pending"
        return "active" if now < self.ends_at else "expired"

    def silences(self, labels: dict[str, str], now: float) -> bool:
        return self.state(now) == "active" and all(m.matches(labels) for m in self.matchers)
