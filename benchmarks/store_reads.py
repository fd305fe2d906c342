"""Reads of a store file timed as another process makes them: the baselines the store
benchmarks print beside sentinel's own figures (the same file, the same run)."""

from __future__ import annotations

import sqlite3
import statistics
import time
from collections.abc import Mapping, Sequence
from contextlib import closing
from pathlib import Path


def median_read(
    path: Path, statements: Sequence[str], params: Mapping[str, object] | None = None
) -> float:
    """Seconds ``statements`` take together on the file, the median of 20 runs."""
    times = []
    with closing(sqlite3.connect(path)) as db:
        for _ in range(20):
            started = time.perf_counter()
            for sql in statements:
                db.execute(sql, params or {}).fetchall()
            times.append(time.perf_counter() - started)
    return statistics.median(times)
