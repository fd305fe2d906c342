"""Working the queue: ``incidents``, ``incidents show``, ``ack``, ``resolve``."""

from __future__ import annotations

import json
import time
from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from sentinel.cli.common import (
    ActorOpt,
    IncidentArg,
    StateOpt,
    actor,
    age,
    app,
    err,
    open_store,
    out,
    when,
)
from sentinel.correlate.problems import ProblemTracker
from sentinel.model import Incident
from sentinel.store import Store
from sentinel.tickets import Desk, DeskError, DeskSettings
from sentinel.tickets.policy import masked

incidents_app = typer.Typer(help="The incident queue: list, show.", invoke_without_command=True)
app.add_typer(incidents_app, name="incidents")


def _incident_table(rows: list[Incident], store: Store) -> Table:
    now = time.time()
    table = Table(title="Incidents (priority, then age)")
    for column in ("ID", "Pri", "Status", "Title", "Services", "Root cause", "Age", "Ack due"):
        table.add_column(column, overflow="fold")
    for incident in rows:
        ticket = store.ticket(incident.id)
        cause = incident.root_causes[0].node if incident.root_causes else "-"
        due = "-"
        if ticket and incident.status == "open":
            due = ("[red]BREACHED[/] " if ticket.ack_breached else "") + when(
                ticket.acknowledge_due
            )
        table.add_row(
            str(incident.id),
            incident.priority,
            incident.status,
            incident.title,
            ", ".join(incident.services),
            cause,
            age(incident.created_at, now),
            due,
        )
    return table


@incidents_app.callback()
def incidents(
    ctx: typer.Context,
    status: Annotated[
        list[str] | None, typer.Option(help="open, acknowledged, resolved (repeatable).")
    ] = None,
    priority: Annotated[list[str] | None, typer.Option(help="P1..P5 (repeatable).")] = None,
    all_: Annotated[bool, typer.Option("--all", help="Include resolved incidents.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    state: StateOpt = None,
) -> None:
    """List the queue: unresolved incidents, highest priority first, then oldest."""
    if ctx.invoked_subcommand is not None:
        return
    statuses = status or ([] if all_ else ["open", "acknowledged"])
    store = open_store(state)
    rows = store.incidents(statuses=statuses, priorities=priority or [])
    if as_json:
        out().print_json(json.dumps([asdict(i) for i in rows]))
    elif rows:
        out().print(_incident_table(rows, store))
    else:
        out().print("no incidents match")


@incidents_app.command("show")
def incidents_show(
    incident_id: IncidentArg,
    why: Annotated[bool, typer.Option("--why", help="Show every root-cause candidate.")] = False,
    state: StateOpt = None,
) -> None:
    """One incident: priority, SLA, root cause with evidence, alerts, timeline."""
    store = open_store(state)
    incident = store.incident(incident_id)
    if incident is None:
        err().print(f"[red]error:[/] no incident {incident_id}")
        raise typer.Exit(1)
    ticket = store.ticket(incident_id)
    out().print(f"[bold]#{incident.id} [{incident.priority}] {incident.title}[/]")
    out().print(
        f"status {incident.status} · impact {incident.impact} × urgency {incident.urgency} · "
        f"services {', '.join(incident.services)} · policy {incident.policy} "
        f"(level {incident.escalation_level + 1})"
    )
    out().print(
        f"opened {when(incident.created_at)} · acknowledged "
        f"{when(incident.acknowledged_at)} · resolved {when(incident.resolved_at)}"
    )
    if ticket:
        out().print(
            f"SLA: acknowledge by {when(ticket.acknowledge_due)}"
            f"{' [red](breached)[/]' if ticket.ack_breached else ''}, resolve by "
            f"{when(ticket.resolve_due)}{' [red](breached)[/]' if ticket.resolve_breached else ''}"
        )
    if incident.next_escalation_at:
        out().print(f"next escalation {when(incident.next_escalation_at)}")
    causes = incident.root_causes if why else incident.root_causes[:1]
    for rank, cause in enumerate(causes, start=1):
        out().print(f"root cause #{rank}: [bold]{cause.node}[/] (score {cause.score:.2f})")
        for line in cause.evidence:
            out().print(f"   - {line}", markup=False)
    alerts = Table(title="Alerts")
    for column in ("Alert", "Status", "Since", "Until", "Summary"):
        alerts.add_column(column, overflow="fold")
    for alert in store.incident_alerts(incident_id):
        alerts.add_row(
            alert.name, alert.status, when(alert.starts_at), when(alert.ends_at), alert.summary
        )
    out().print(alerts)
    timeline = Table(title="Timeline")
    for column in ("When", "What", "Who", "Detail"):
        timeline.add_column(column, overflow="fold")
    for entry in store.timeline(incident_id):
        timeline.add_row(when(entry.at), entry.kind, entry.actor, entry.text)
    out().print(timeline)
    deliveries = store.outbox(incident_id)
    if deliveries:
        table = Table(title="Notifications")
        for column in ("Event", "To", "Status", "Attempts", "Last error"):
            table.add_column(column, overflow="fold")
        for row in deliveries:
            table.add_row(
                row.event, masked(row.target), row.status, str(row.attempts), row.last_error or ""
            )
        out().print(table)


def _desk_action(state: Path | None, action: str, incident_id: int, actor: str, reason: str = ""):
    store = open_store(state)
    desk = Desk(store, DeskSettings(), problems=ProblemTracker(store))
    try:
        if action == "ack":
            incident = desk.acknowledge(incident_id, actor, time.time())
        else:
            incident = desk.resolve(incident_id, actor, time.time(), reason)
    except DeskError as exc:
        err().print(f"[red]error:[/] {exc}")
        raise typer.Exit(1) from None
    out().print(f"incident {incident.id} is now {incident.status}")


@app.command()
def ack(
    incident_id: IncidentArg,
    by: ActorOpt = "",
    state: StateOpt = None,
) -> None:
    """Acknowledge an incident: you own it, escalation stops."""
    _desk_action(state, "ack", incident_id, actor(by))


@app.command()
def resolve(
    incident_id: IncidentArg,
    by: ActorOpt = "",
    reason: Annotated[str, typer.Option(help="Why it is resolved.")] = "",
    state: StateOpt = None,
) -> None:
    """Resolve an incident by hand (its firing alerts are closed with it)."""
    _desk_action(state, "resolve", incident_id, actor(by), reason)
