"""Recorded samples from a CSV (``timestamp,value``), replayed on the recorded clock.

For demos and backtests through the live pipeline: the first row is played at the first
poll and each later row when as much time has passed (divided by ``speed``). Timestamps
are unix seconds or ISO 8601 (naive ones are taken as UTC).
"""

from __future__ import annotations

import csv
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator

from sentinel.collectors.base import Reading, TargetConfig, collectors


def parse_timestamp(text: str) -> float:
    """Unix seconds from ``1700000000`` or ``2014-04-10 07:15:00`` (UTC if no zone).

    >>> parse_timestamp("1970-01-01 00:01:00"), parse_timestamp("60.5")
    (60.0, 60.5)
    """
    try:
        return float(text)
    except ValueError:
        moment = datetime.fromisoformat(text.strip())
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return moment.timestamp()


def read_series(path: Path) -> list[tuple[float, float]]:
    """Rows of a ``timestamp,value`` CSV (a header row is skipped), in file order."""
    rows = []
    with path.open(newline="") as handle:
        for number, row in enumerate(csv.reader(handle), start=1):
            if not row or (number == 1 and row[0].strip().lower() == "timestamp"):
                continue
            try:
                rows.append((parse_timestamp(row[0]), float(row[1])))
            except (ValueError, IndexError):
                raise ValueError(f"{path}:{number}: expected timestamp,value") from None
    return rows


class ReplayConfig(TargetConfig):
    kind: Literal["replay"] = "replay"
    path: Path
    metric: str = "replay_value"
    speed: float = Field(1.0, gt=0)
    loop: bool = False

    @field_validator("path")
    @classmethod
    def _readable(cls, path: Path) -> Path:
        if not path.is_file():
            raise ValueError(f"{path} is not a file")
        return path


@collectors.register("replay")
class ReplayCollector:
    Config = ReplayConfig

    def __init__(self, config: ReplayConfig, clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self.clock = clock
        self._rows: list[tuple[float, float]] | None = None
        self._cursor = 0
        self._started = 0.0

    async def read(self) -> Reading:
        now = self.clock()
        if self._rows is None:
            self._rows = read_series(self.config.path)
            self._started = now
        reading = Reading()
        rows = self._rows
        if not rows:
            return reading.fail("parse", f"{self.config.path} holds no rows")
        first = rows[0][0]
        while self._cursor < len(rows):
            ts, value = rows[self._cursor]
            played_at = self._started + (ts - first) / self.config.speed
            if played_at > now:
                return reading
            reading.add(self.config.metric, value, ts=played_at)
            self._cursor += 1
        if self.config.loop:  # start over from the next poll on
            self._cursor, self._started = 0, now
        return reading

    async def close(self) -> None:
        return None
