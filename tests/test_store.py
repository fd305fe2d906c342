"""The state file: schema versioning and refusing a newer schema."""

from __future__ import annotations

import sqlite3

import pytest

from sentinel.store import MIGRATIONS, Store, StoreError


def test_new_file_gets_the_latest_schema_and_reopens_unchanged(tmp_path):
    store = Store(tmp_path / "s.db")
    assert store.schema_version == len(MIGRATIONS)
    store.set_meta("k", "v")
    store.close()
    again = Store(tmp_path / "s.db")
    assert again.schema_version == len(MIGRATIONS) and again.get_meta("k") == "v"


def test_state_from_a_newer_sentinel_is_refused_not_clobbered(tmp_path):
    path = tmp_path / "s.db"
    Store(path).close()
    with sqlite3.connect(path) as db:
        db.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    with pytest.raises(StoreError, match="upgrade sentinel"):
        Store(path)


def test_dedup_key_queues_a_delivery_once(tmp_path):
    store = Store(tmp_path / "s.db")
    args = dict(
        incident_id=None,
        event="opened",
        target="json://127.0.0.1:1/x",
        title="t",
        body="b",
        notify_type="info",
        now=0.0,
    )
    assert store.enqueue(dedup_key="k1", **args) is True
    assert store.enqueue(dedup_key="k1", **args) is False
    assert len(store.outbox()) == 1


def test_failed_transaction_leaves_nothing_behind(tmp_path):
    store = Store(tmp_path / "s.db")
    with pytest.raises(RuntimeError), store.transaction():
        store.set_meta("half", "done")
        raise RuntimeError("crash in the middle")
    assert store.get_meta("half") is None


def test_state_file_is_private_to_its_owner(tmp_path):
    Store(tmp_path / "state" / "s.db").close()
    assert (tmp_path / "state" / "s.db").stat().st_mode & 0o077 == 0
    assert (tmp_path / "state").stat().st_mode & 0o077 == 0
