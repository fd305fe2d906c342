"""Counting what a store read costs in SQLite virtual machine steps: a figure that does not
hang on how busy the machine is, for tests that a read does not grow with history."""

from __future__ import annotations

from collections.abc import Callable

from sentinel.store import Store


def vm_steps(store: Store, work: Callable[[], object]) -> int:
    """Hundreds of virtual machine steps ``work`` takes on ``store``."""
    counted: list[int] = []
    store._db.set_progress_handler(lambda: counted.append(1), 100)
    try:
        work()
    finally:
        store._db.set_progress_handler(None, 0)
    return len(counted)
