"""What a recurrence costs while a problem's history grows.

    python benchmarks/long_problem.py [--history 0 1000 10000 100000] [--recurrences 20]

A database keeps failing the same way: its incidents fold into one problem record, which a
problem manager marks a known error. For each length of that history (incidents linked to
the problem, written as the desk would have) the database fails and recovers again, through
the daemon's pipeline on a store on disk, paging on-call: the batch that opens the incident
(it matches the known error and links to it; the page says what was seen before) and the
batch that resolves it (it folds into the problem). Printed side by side with the reads
each of those made before a problem's figures were counted as incidents link: every linked
incident's id with each read of the problem, and a recount of them all (the same file, same
run).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import yaml
from rich.console import Console
from store_reads import history_table, median_read, ms

from sentinel.config import load_config
from sentinel.daemon import Daemon
from sentinel.model import (
    Alert,
    AlertStatus,
    Incident,
    IncidentStatus,
    RootCause,
    Ticket,
    TimelineEntry,
)
from sentinel.pipeline import Pipeline
from sentinel.store import Store

DAY = 86400.0
PAGE = "json://127.0.0.1:9/page"  # queued only: nothing sends it here
CAUSE = (RootCause("db", 1.0, ("db: DbDown firing since 00:00:00",), "DbDown"),)
RULES = {
    "services": [{"name": "db"}, {"name": "api", "depends_on": ["db"]}],
    "escalation_policies": [{"name": "default", "levels": [{"notify": [PAGE]}]}],
    "correlation": {"problems": {"min_occurrences": 3, "period": "7d"}},
}
# What a batch read of that history before, on the same file: every linked incident's id
# with each read of the problem; a recount of them all with each fold; the worked
# incidents, SLA deadlines and whom an incident paged, each found by a pass over them all.
BEFORE = {
    "the problem's ids": (
        "SELECT incident_id FROM problem_incidents WHERE problem_id = :problem ORDER BY 1",
    ),
    "a recount": (
        "SELECT count(*), min(i.created_at), max(i.created_at) FROM problem_incidents p "
        "JOIN incidents i ON i.id = p.incident_id WHERE p.problem_id = :problem",
        "SELECT DISTINCT s.value FROM problem_incidents p JOIN incidents i "
        "ON i.id = p.incident_id, json_each(i.services) s WHERE p.problem_id = :problem "
        "ORDER BY 1",
    ),
    "worked incidents, deadlines, pages": (
        "SELECT id FROM incidents WHERE status NOT IN ('resolved', 'closed')",
        "SELECT t.* FROM tickets t JOIN incidents i ON i.id = t.incident_id "
        "WHERE (i.status = 'open' AND t.ack_breached = 0 AND t.acknowledge_due <= :now) "
        "OR (i.status NOT IN ('resolved', 'closed') AND t.resolve_breached = 0 "
        "AND t.resolve_due <= :now)",
        "SELECT * FROM outbox NOT INDEXED WHERE incident_id = :incident ORDER BY id",
    ),
}


def failure(at: float) -> Alert:
    labels = {"alertname": "DbDown", "severity": "critical", "service": "db"}
    return Alert(labels, {"summary": "db down"}, AlertStatus.FIRING, at)


def outage(pipeline: Pipeline, at: float) -> tuple[float, float]:
    """The database fails at ``at`` and recovers ten minutes later: each batch's time."""
    down = failure(at)
    started = time.perf_counter()
    pipeline.alerts([down], now=at)
    opened = time.perf_counter()
    pipeline.alerts([down.replace(status=AlertStatus.RESOLVED, ends_at=at + 600)], at + 600)
    return opened - started, time.perf_counter() - opened


def recurred(store: Store, problem_id: int, days: int, at: float) -> float:
    """``days`` more resolved incidents of the problem, one a day from ``at``, written as
    the desk and the problem tracker would have: quicker than paging through each."""
    linked = []
    with store.transaction():
        for _ in range(days):
            at += DAY
            draft = Incident(
                0, "db down", IncidentStatus.CLOSED, "P1", 1, 1, ("db",), CAUSE,
                "default", at, at + 600.0, resolved_at=at + 600.0,
            )  # fmt: skip
            incident = replace(draft, id=store.add_incident(draft))
            store.update_incident(incident.id, resolved_at=draft.resolved_at)
            store.set_signature(incident.id, CAUSE[0].signature)
            store.add_ticket(Ticket(0, incident.id, "desk", at + 900.0, at + 3600.0))
            for event in ("opened", "resolved"):
                store.enqueue(
                    dedup_key=f"incident:{incident.id}:{event}", incident_id=incident.id,
                    event=event, target=PAGE, title="db down", body="db down",
                    notify_type="failure", now=at,
                )  # fmt: skip
            linked.append(incident)
            recurred = f"incident #{incident.id} recurred"
            entry = TimelineEntry(problem_id, at + 600.0, "incident", recurred)
            store.add_problem_timeline(problem_id, entry)
        store.link_problem(problem_id, linked)
    return at


def run(history: int, recurrences: int, rules: Path) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "sentinel.db"
        store = Store(path)
        daemon = Daemon(load_config([rules]), store, clock=lambda: 0.0)
        assert daemon.desk.problems is not None
        at = 0.0
        for _ in range(3):  # the third recurrence within a week opens the problem
            outage(daemon.pipeline, at)
            at += DAY
        [problem] = store.problems()
        daemon.desk.problems.mark_known_error(problem.id, "fail over", "alice", at)
        at = recurred(store, problem.id, history, at)
        opening, folding = [], []
        for _ in range(recurrences):
            at += DAY
            opened, folded = outage(daemon.pipeline, at)
            opening.append(opened)
            folding.append(folded)
        occurrences = store.problem(problem.id).occurrences
        last = store.incidents(limit=1)[0].id
        store.close()
        named = {"problem": problem.id, "now": at, "incident": last}
        before = {what: median_read(path, sql, named) for what, sql in BEFORE.items()}
    return {
        "occurrences": occurrences,
        "opening": statistics.median(opening),
        "folding": statistics.median(folding),
        **before,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--history", type=int, nargs="+", default=[0, 1000, 10000, 100000])
    parser.add_argument("--recurrences", type=int, default=20)
    args = parser.parse_args()
    table = history_table(
        "A recurrence of a known error while its problem's history grows (median)",
        (
            "incidents in the problem",
            "batch: opens, matches the known error",
            "batch: resolves, folds in",
            *(f"before: {what}" for what in BEFORE),
        ),
    )
    with tempfile.TemporaryDirectory() as tmp:
        rules = Path(tmp) / "rules"
        rules.mkdir()
        (rules / "sentinel.yaml").write_text(yaml.safe_dump(RULES, sort_keys=False))
        for history in args.history:
            r = run(history, args.recurrences, rules)
            table.add_row(
                f"{r['occurrences']:,}",
                ms(r["opening"]),
                ms(r["folding"]),
                *(ms(r[what], 3) for what in BEFORE),
            )
    Console(width=150).print(table)


if __name__ == "__main__":
    main()
