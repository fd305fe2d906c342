"""Building blocks for schemas: a strict base model, durations, RFC 3339 times and
pydantic's errors as one line.

Every stage declares the schema of its own configuration with these, so that one loader
(`sentinel.config`) can validate everything and report every error with file and line; the
API and the CLI's file imports read times and report errors with the same pieces.
"""

from __future__ import annotations

import functools
import re
from datetime import datetime
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, ValidationError

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


def describe(error: ValidationError, limit: int = 5, whole: str = "body") -> str:
    """Pydantic's errors as ``path: message`` lines, the first few only; an error in the
    input as a whole is said of ``whole`` (a request's body, a file's line)."""
    parts = []
    for item in error.errors()[:limit]:
        where = ".".join(str(p) for p in item["loc"]) or whole
        parts.append(f"{where}: {item['msg'].removeprefix('Value error, ')}")
    more = len(error.errors()) - limit
    return "; ".join(parts) + (f"; and {more} more" if more > 0 else "")


def parse_time(text: str | None, field: str) -> float | None:
    """RFC 3339 to unix seconds; missing or Go's zero time (year 1) is None.

    >>> parse_time("2024-01-01T00:00:00.123456789Z", "startsAt")
    1704067200.123456
    >>> parse_time("0001-01-01T00:00:00Z", "endsAt") is None
    True
    """
    if text is None or text == "":
        return None
    return _parse_time(text, field)


@functools.lru_cache(maxsize=4096)  # senders repeat their times: each batch shares its endsAt
def _parse_time(text: str, field: str) -> float | None:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{field}: {text!r} is not an RFC 3339 time") from None
    if moment.tzinfo is None or "T" not in text.upper():
        raise ValueError(f"{field}: {text!r} needs a date, a time and a time zone")
    return None if moment.year == 1 else moment.timestamp()
