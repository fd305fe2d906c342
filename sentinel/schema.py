"""Building blocks for configuration schemas: a strict base model and a duration type.

Every stage declares the schema of its own configuration with these, so that one loader
(`sentinel.config`) can validate everything and report every error with file and line.
"""

from __future__ import annotations

import re
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(value: object) -> float:
    """Seconds from ``90``, ``"1.5s"``, ``"250ms"`` or ``"1h30m"`` (Prometheus style).

    >>> parse_duration("1h30m"), parse_duration("250ms"), parse_duration(5)
    (5400.0, 0.25, 5.0)
    """
    if isinstance(value, bool):
        raise ValueError("expected a duration such as 30s, 5m or 1h30m")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError("a duration cannot be negative")
        return float(value)
    text = str(value).strip()
    pos, total = 0, 0.0
    for match in _DURATION_PART.finditer(text):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        pos = match.end()
    if pos != len(text) or not text:
        raise ValueError(f"invalid duration {text!r}: expected e.g. 30s, 5m, 1h30m, 250ms")
    return total


Duration = Annotated[float, BeforeValidator(parse_duration)]


def check_time_zone(value: str) -> str:
    """An IANA time zone name such as ``Europe/Berlin`` (or ``UTC``), checked to exist."""
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {value!r}") from None
    return value


TimeZone = Annotated[str, AfterValidator(check_time_zone)]


class StrictModel(BaseModel):
    """Unknown keys are errors; a typo in a config file must never be silently ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)
