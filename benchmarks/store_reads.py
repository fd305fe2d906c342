"""What the long-history benchmarks share: reads of a store file timed as another process
makes them (the baselines printed beside sentinel's own figures, the same file, the same
run), and the table both print their medians in."""

from __future__ import annotations

import sqlite3
import statistics
import time
from collections.abc import Iterable, Mapping, Sequence
from contextlib import closing
from pathlib import Path

from rich.table import Table


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


def history_table(title: str, columns: Iterable[str]) -> Table:
    """A table of figures for each length of history, every column right-aligned."""
    table = Table(title=title)
    for column in columns:
        table.add_column(column, justify="right")
    return table


def ms(seconds: float, decimals: int = 2) -> str:
    """A batch's time (two decimals) or a read's (three), in milliseconds."""
    return f"{seconds * 1e3:.{decimals}f} ms"
