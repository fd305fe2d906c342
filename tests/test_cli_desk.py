"""Silences and the outbox from the CLI, on a real store the daemon reads."""

from __future__ import annotations

import time

from sentinel.store import Store
from tests.test_cli import invoke, seed


def test_silence_add_list_expire_and_timeline(tmp_path):
    seed(tmp_path)  # incidents on svc0, svc1, svc2
    added = invoke(
        "silence",
        "add",
        "service=svc1",
        "--for",
        "2h",
        "--comment",
        "db upgrade",
        "--by",
        "alice",
        state=tmp_path,
    )
    assert added.exit_code == 0, added.output
    assert "(1 open incident(s) affected)" in added.output
    silence_id = added.output.split()[1]
    store = Store(tmp_path / "sentinel.db")
    [silence] = store.active_silences(time.time())
    assert silence.id == silence_id and silence.created_by == "alice"
    [svc1] = [i for i in store.unresolved_incidents() if i.services == ("svc1",)]
    [note] = [e for e in store.timeline(svc1.id) if e.kind == "silence"]
    assert note.actor == "alice" and note.text.startswith(f"silence {silence_id} set (1 of 1")

    listed = invoke("silence", "list", state=tmp_path)
    assert silence_id in listed.output and 'service="svc1"' in listed.output
    expired = invoke("silence", "expire", silence_id, state=tmp_path)
    assert expired.exit_code == 0 and "expired" in expired.output
    assert silence_id not in invoke("silence", "list", state=tmp_path).output
    assert silence_id in invoke("silence", "list", "--expired", state=tmp_path).output
    assert "already expired" in invoke("silence", "expire", silence_id, state=tmp_path).output
    assert invoke("silence", "expire", "nope", state=tmp_path).exit_code == 1


def test_silence_add_refuses_what_alertmanager_refuses(tmp_path):
    def add(*args: str):
        return invoke("silence", "add", *args, "--comment", "x", state=tmp_path)

    assert add("service").exit_code == 2  # not a matcher
    assert add('env=~"("').exit_code == 2  # bad regex
    catch_all = add('env=""')
    assert catch_all.exit_code == 2 and "must not match all labels" in catch_all.output
    assert add("service=db", "--for", "soon").exit_code == 2
    assert Store(tmp_path / "sentinel.db").silences() == []


def test_outbox_shows_dead_letters_masked_and_retries_them(tmp_path):
    store = Store(tmp_path / "sentinel.db")
    with store.transaction():
        for n in (1, 2):
            store.enqueue(
                dedup_key=f"k{n}",
                incident_id=None,
                event="opened",
                target=f"json://user:hunter2@127.0.0.1:9/hook{n}",
                title="t",
                body="b",
                notify_type="failure",
                now=0.0,
            )
        store.mark_failed(1, "HTTP 400: bad request", retry_at=None)
    listed = invoke("outbox", state=tmp_path)
    assert listed.exit_code == 0
    assert "dead" in listed.output and "HTTP 400: bad request" in listed.output
    assert "hunter2" not in listed.output and "****" in listed.output
    only_dead = invoke("outbox", "--status", "dead", state=tmp_path).output
    assert "hook1" in only_dead and "hook2" not in only_dead
    assert invoke("outbox", "--status", "lost", state=tmp_path).exit_code == 2

    assert "queued again" in invoke("outbox", "retry", "1", state=tmp_path).output
    assert [r.status for r in store.outbox()] == ["pending", "pending"]
    assert invoke("outbox", "retry", "1", state=tmp_path).exit_code == 1
