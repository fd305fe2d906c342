"""What a batch costs while an incident stays open for days and its history grows.

    python benchmarks/long_incident.py [--rows 0 1000 10000 100000] [--batches 50]
                                       [--keep DIR]

A database goes down and stays down; the 200 instances of the service that calls it flap
(fire, resolve, fire again) for as long as it is down, so its one incident holds more and
more alert rows. For each size of that history the daemon's pipeline then takes batches of
one alert, as rule evaluations send them, each one store transaction on disk: a new
failure of an unrelated service, and a new alert joining the long incident after the desk
escalated it (which touches the incident, not its alerts). Printed side
by side with the read every batch makes of the open incidents' services' times, from the
kept per-service table and, as it was read before that table existed, from the alerts
(the same store file, same run).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from rich.console import Console
from store_reads import history_table, median_read, ms

from sentinel.config import Config
from sentinel.correlate import ServiceConfig
from sentinel.daemon import Daemon
from sentinel.model import Alert, AlertStatus, Placement
from sentinel.store import Store

INSTANCES = 200


def alert(service: str, instance: int, at: float) -> Alert:
    labels = {"alertname": "Down", "service": service, "instance": str(instance)}
    return Alert(labels, {"summary": f"{service} down"}, AlertStatus.FIRING, at)


def run(rows: int, batches: int, keep: Path | None = None) -> dict[str, float]:
    services = [
        ServiceConfig(name="db"),
        ServiceConfig(name="api", depends_on=("db",)),
        *(ServiceConfig(name=f"other-{n}") for n in range(batches)),
    ]
    with tempfile.TemporaryDirectory() as tmp:
        path = (keep or Path(tmp)) / "sentinel.db"
        store = Store(path)
        pipeline = Daemon(Config(services=services), store, clock=lambda: 0.0).pipeline
        pipeline.alerts([alert("db", 0, 0.0), alert("api", 0, 1.0)], now=2.0)
        [incident] = store.unresolved_incidents()
        at = 2.0
        with store.transaction():  # the flapping, written as the desk would have
            for _ in range(rows // INSTANCES):
                flapping = [alert("api", n, at) for n in range(1, INSTANCES + 1)]
                store.add_alerts(incident.id, [Placement(a, "api") for a in flapping], at)
                store.resolve_alerts([(a.fingerprint, at + 30.0) for a in flapping], at + 30.0)
                at += 60.0
        new, joining = [], []
        for n in range(batches):
            at += 5.0
            started = time.perf_counter()
            pipeline.alerts([alert(f"other-{n}", 0, at)], now=at)
            new.append(time.perf_counter() - started)
            at += 5.0
            with store.transaction():  # an escalation step, as the desk's tick takes it
                store.update_incident(incident.id, escalation_level=n, updated_at=at)
            started = time.perf_counter()
            pipeline.alerts([alert("api", INSTANCES + 1 + n, at)], now=at)
            joining.append(time.perf_counter() - started)
        held = store.count("alerts")
        store.close()
        # Every incident's services' times in the file (the long one and the unrelated ones).
        kept = median_read(
            path, ["SELECT incident_id, node, onset, firing, ended_at FROM incident_services"]
        )
        counted = median_read(
            path,
            [
                "SELECT incident_id, node, min(starts_at), max(status = 'firing'), max(ends_at) "
                "FROM alerts GROUP BY incident_id, node"
            ],
        )
    return {
        "rows": held,
        "new": statistics.median(new),
        "joining": statistics.median(joining),
        "kept": kept,
        "counted": counted,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[0, 1000, 10000, 100000])
    parser.add_argument("--batches", type=int, default=50)
    parser.add_argument(
        "--keep",
        type=Path,
        metavar="DIR",
        help="leave the largest run's store in DIR (a new directory), for the CLI to read",
    )
    args = parser.parse_args()
    table = history_table(
        "One-alert batches while an incident's history grows (median)",
        (
            "alert rows in the store",
            "batch: a new incident",
            "batch: joins the long one",
            "services' times, kept",
            "from the alerts (before)",
        ),
    )
    if args.keep:
        args.keep.mkdir(parents=True)
    for rows in args.rows:
        r = run(rows, args.batches, args.keep if rows == max(args.rows) else None)
        table.add_row(
            f"{r['rows']:,.0f}",
            ms(r["new"]),
            ms(r["joining"]),
            ms(r["kept"], 3),
            ms(r["counted"], 3),
        )
    Console(width=150).print(table)


if __name__ == "__main__":
    main()
