"""Working the queue: ``incidents``, ``incidents show``, ``ack``, ``resolve``."""

from __future__ import annotations

import json
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import asdict
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from sentinel.cli.common import (
    SHOWN,
    ActorOpt,
    AllOpt,
    IncidentArg,
    RulesOpt,
    StateOpt,
    actor,
    age,
    app,
    duration,
    duration_option,
    err,
    load_or_exit,
    open_store,
    out,
    services_cell,
    services_shown,
    when,
)
from sentinel.correlate import correlators
from sentinel.correlate.problems import ProblemTracker, seen_before
from sentinel.model import Alert, Incident, IncidentStatus, RootCause
from sentinel.silences import Matcher, Silence
from sentinel.store import MAX_ROW_ID, Store
from sentinel.tickets import Desk, DeskError, DeskSettings
from sentinel.tickets.outbox import shown_target
from sentinel.tickets.policy import PRIORITIES
from sentinel.tickets.report import Report, as_csv, as_html, as_json, build_report, plot

# The priorities as a choice, so a typo (--priority P9) is refused instead of matching nothing.
PriorityChoice = StrEnum("PriorityChoice", {p: p for p in PRIORITIES})
LISTED = 500  # incidents listed at most; the rest are counted

incidents_app = typer.Typer(
    help="The incident queue: list, show, note, merge, split.", invoke_without_command=True
)
app.add_typer(incidents_app, name="incidents")


def _incident_table(rows: list[Incident], store: Store) -> Table:
    now = time.time()
    table = Table(title="Incidents (priority, then age)")
    columns = ("ID", "Pri", "Status", "Title", "Services", "Root cause", "Firing", "Age", "Ack due")
    for column in columns:
        table.add_column(column, overflow="fold")
    counts = store.alert_counts([incident.id for incident in rows])
    for incident in rows:
        firing, total = counts.get(incident.id, (0, 0))
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
            services_cell(incident.services),
            cause,
            f"{firing} of {total}",
            age(incident.created_at, now),
            due,
        )
    return table


@incidents_app.callback()
def incidents(
    ctx: typer.Context,
    status: Annotated[
        list[IncidentStatus] | None,
        typer.Option(help="open, acknowledged, resolved, closed (repeatable)."),
    ] = None,
    priority: Annotated[
        list[PriorityChoice] | None, typer.Option(help="P1..P5 (repeatable).")
    ] = None,
    all_: Annotated[
        bool, typer.Option("--all", help="Include resolved and closed incidents.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    state: StateOpt = None,
) -> None:
    """List the queue: unresolved incidents, highest priority first, then oldest."""
    if ctx.invoked_subcommand is not None:
        return
    statuses = status or ([] if all_ else ["open", "acknowledged"])
    store = open_store(state)
    priorities = [p.value for p in priority or []]
    rows = store.incidents(statuses=statuses, priorities=priorities, limit=LISTED)
    if as_json:
        out().print_json(json.dumps([asdict(i) for i in rows]))
    elif rows:
        out().print(_incident_table(rows, store))
        total = store.count_incidents(statuses, priorities)
        if total > len(rows):
            out().print(f"the first {len(rows)} of {total}; narrow with --priority or --status")
    else:
        out().print("no incidents match")


@incidents_app.command("show")
def incidents_show(
    incident_id: IncidentArg,
    why: Annotated[bool, typer.Option("--why", help="Show every root-cause candidate.")] = False,
    every: AllOpt = False,
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
        f"services {services_shown(incident.services, every)} · policy {incident.policy} "
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
    firing, total = store.alert_counts([incident_id]).get(incident_id, (0, 0))
    failing = store.failing_services(incident_id)
    still = f" on {services_shown(failing, every)}" if failing else ""
    out().print(f"alerts: {firing} of {total} firing{still}")
    causes = incident.root_causes if why else incident.root_causes[:1]
    for rank, cause in enumerate(causes, start=1):
        out().print(f"root cause #{rank}: [bold]{cause.node}[/] (score {cause.score:.2f})")
        for line in cause.evidence:
            out().print(f"   - {line}", markup=False)
    _print_seen_before(store, incident)
    shown = -1 if every else SHOWN
    alerts = Table(title="Alerts")
    for column in ("Alert", "Service", "Status", "Since", "Until", "Summary"):
        alerts.add_column(column, overflow="fold")
    for alert in store.incident_alerts_to_read(incident_id, shown):
        alerts.add_row(
            alert.name,
            alert.labels.get("service", ""),
            alert.status,
            when(alert.starts_at),
            when(alert.ends_at),
            alert.summary,
        )
    if alerts.row_count < total:
        alerts.caption = (
            f"{alerts.row_count} of {total:,}: the firing ones first, then the latest "
            "resolved; --all for every one"
        )
    out().print(alerts)
    entries = store.count_timeline(incident_id)
    skipped = 0 if every else max(0, entries - SHOWN)
    timeline = Table(title="Timeline")
    for column in ("When", "What", "Who", "Detail"):
        timeline.add_column(column, overflow="fold")
    for entry in store.timeline(incident_id, shown, skipped):
        timeline.add_row(when(entry.at), entry.kind, entry.actor, entry.text)
    if skipped:
        timeline.caption = f"the latest {timeline.row_count} of {entries:,}; --all for every one"
    out().print(timeline)
    deliveries = store.outbox(incident_id)
    if deliveries:
        table = Table(title="Notifications")
        for column in ("Event", "To", "Status", "Attempts", "Last error"):
            table.add_column(column, overflow="fold")
        for row in deliveries:
            table.add_row(
                row.event, shown_target(row), row.status, str(row.attempts), row.last_error or ""
            )
        out().print(table)


def _print_seen_before(store: Store, incident: Incident) -> None:
    seen = seen_before(store, incident)
    if seen is None:
        return
    problem = seen.problem
    filed = f" · problem #{problem.id} ({problem.status})" if problem else ""
    out().print(
        f"seen before: {seen.signature} in {seen.total} earlier incident(s){filed}", markup=False
    )
    if problem and problem.workaround:
        out().print(f"   workaround: {problem.workaround}", markup=False)
    for past, work in seen.earlier:
        took = duration(past.resolved_at - past.created_at) if past.resolved_at else "-"
        out().print(f"   #{past.id} opened {when(past.created_at)}, resolved after {took}")
        for entry in work:
            out().print(f"      {entry.kind} by {entry.actor}: {entry.text}", markup=False)


def _desk_action(state: Path | None, act: Callable[[Desk, float], Incident]) -> None:
    desk = _desk(open_store(state))
    try:
        incident = act(desk, time.time())
    except DeskError as exc:
        err().print(f"[red]error:[/] {exc}")
        raise typer.Exit(1) from None
    out().print(f"incident {incident.id} is now {incident.status}")


ReasonOpt = Annotated[str, typer.Option(help="Why (kept in the timeline).")]


@app.command()
def ack(incident_id: IncidentArg, by: ActorOpt = "", state: StateOpt = None) -> None:
    """Acknowledge an incident: you own it, escalation stops."""
    _desk_action(state, lambda desk, now: desk.acknowledge(incident_id, actor(by), now))


@app.command()
def resolve(
    incident_id: IncidentArg, by: ActorOpt = "", reason: ReasonOpt = "", state: StateOpt = None
) -> None:
    """Resolve an incident by hand (its firing alerts are closed with it)."""
    _desk_action(state, lambda desk, now: desk.resolve(incident_id, actor(by), now, reason))


@incidents_app.command("note")
def incidents_note(
    incident_id: IncidentArg,
    text: Annotated[str, typer.Argument(help="What was seen, tried or done.")],
    by: ActorOpt = "",
    state: StateOpt = None,
) -> None:
    """Add a work note to an incident's timeline; incidents with the same root cause later
    show it under "seen before"."""
    _desk_action(state, lambda desk, now: desk.note(incident_id, text, actor(by), now))


@app.command()
def reopen(
    incident_id: IncidentArg, reason: ReasonOpt, by: ActorOpt = "", state: StateOpt = None
) -> None:
    """Reopen a resolved incident whose fix did not hold; escalation starts over."""
    _desk_action(state, lambda desk, now: desk.reopen_by_hand(incident_id, actor(by), now, reason))


@app.command()
def close(
    incident_id: IncidentArg, by: ActorOpt = "", reason: ReasonOpt = "", state: StateOpt = None
) -> None:
    """Close a resolved incident now (the daemon closes them after lifecycle.close_after)."""
    _desk_action(state, lambda desk, now: desk.close(incident_id, actor(by), now, reason))


class _Correlating:
    """The desk with the daemon's configuration (``--rules``) and a ranking on its
    topology, for the commands that regroup alerts by hand."""

    def __init__(self, rules: list[Path] | None, state: Path | None) -> None:
        config = load_or_exit(rules)
        self.store = store = open_store(state)
        self.topology = config.topology
        self.correlator = correlators.get(config.correlation.strategy)(
            config.topology, config.correlation
        )
        self.change_window = config.correlation.change_window
        problems = ProblemTracker(store, config.correlation.problems)
        self.desk = Desk(store, config.desk, problems=problems)
        self.now = time.time()

    def rank(self, alerts: list[Alert]) -> Sequence[RootCause]:
        began = min((a.starts_at for a in alerts), default=self.now)
        changes = self.store.changes(since=began - self.change_window, until=self.now)
        return self.correlator.rank(alerts, changes)

    def run(self, act: Callable[[], Incident]) -> Incident:
        try:
            return act()
        except DeskError as exc:
            err().print(f"[red]error:[/] {exc}")
            raise typer.Exit(1) from None


def _summary(incident: Incident) -> str:
    cause = incident.root_causes[0].node if incident.root_causes else "-"
    return (
        f"incident {incident.id} ({incident.priority}, {incident.status}): services "
        f"{services_cell(incident.services)}, root cause {cause}"
    )


@incidents_app.command("merge")
def incidents_merge(
    target: IncidentArg,
    sources: Annotated[
        list[int],
        typer.Argument(help="The incidents to fold into it.", min=1, max=MAX_ROW_ID),
    ],
    by: ActorOpt = "",
    reason: ReasonOpt = "",
    rules: RulesOpt = None,
    state: StateOpt = None,
) -> None:
    """Merge incidents that are one trouble (correlation split them) into TARGET: their
    alerts join it, it is ranked afresh on the topology of --rules (the daemon's), and they
    resolve as merged."""
    work = _Correlating(rules, state)
    merged = work.run(
        lambda: work.desk.merge(target, sources, actor(by), work.now, work.rank, reason)
    )
    listed = ", ".join(f"#{i}" for i in dict.fromkeys(sources) if i != target)
    out().print(f"{listed} merged into {_summary(merged)}")


@incidents_app.command("split")
def incidents_split(
    incident_id: IncidentArg,
    services: Annotated[list[str], typer.Argument(help="The services to take out of it.")],
    by: ActorOpt = "",
    reason: ReasonOpt = "",
    rules: RulesOpt = None,
    state: StateOpt = None,
) -> None:
    """Split services' alerts out of an incident into a new one (correlation joined two
    troubles): both are ranked afresh on the topology of --rules (the daemon's), and the
    new incident opens and pages as any other."""
    work = _Correlating(rules, state)
    split_off = work.run(
        lambda: work.desk.split(
            incident_id, services, actor(by), work.now, work.rank, work.topology, reason
        )
    )
    remaining = work.store.incident(incident_id)
    assert remaining is not None  # the split kept it
    out().print(f"split off {_summary(split_off)}")
    out().print(f"left in {_summary(remaining)}")


silence_app = typer.Typer(
    help="Silences and maintenance windows: matching alerts page no one and do not escalate."
)
app.add_typer(silence_app, name="silence")


@silence_app.command("add")
def silence_add(
    matchers: Annotated[
        list[str], typer.Argument(help='Label matchers: service=db, env!=test, job=~"api.*".')
    ],
    comment: Annotated[str, typer.Option(help="Why (shown in the incident timeline).")],
    for_: Annotated[str, typer.Option("--for", help="How long (e.g. 30m, 2h).")] = "1h",
    starts_in: Annotated[
        str, typer.Option(help="Start later, for a maintenance window (e.g. 2h).")
    ] = "0s",
    by: ActorOpt = "",
    state: StateOpt = None,
) -> None:
    """Silence matching alerts for a while (Alertmanager's matcher semantics)."""
    now = time.time()
    try:
        parsed = tuple(Matcher.parse(m) for m in matchers)
        length = duration_option(for_, "--for")
        delay = duration_option(starts_in, "--starts-in")
        silence = Silence.create(
            str(uuid.uuid4()), parsed, now + delay, now + delay + length, actor(by), comment, now
        )
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    store = open_store(state)
    with store.transaction():
        store.save_silence(silence)
        noted = _desk(store).note_silence(silence, "set", silence.created_by, now)
    out().print(
        f"silence {silence.id} from {when(silence.starts_at)} until {when(silence.ends_at)}"
        f" ({noted} open incident(s) affected)"
    )


@silence_app.command("list")
def silence_list(
    expired: Annotated[bool, typer.Option("--expired", help="Include expired ones.")] = False,
    state: StateOpt = None,
) -> None:
    """Silences, newest end first."""
    now = time.time()
    table = Table(title="Silences")
    for column in ("ID", "State", "Matchers", "Starts", "Ends", "By", "Comment"):
        table.add_column(column, overflow="fold")
    for silence in sorted(open_store(state).silences(), key=lambda s: -s.ends_at):
        if silence.state(now) == "expired" and not expired:
            continue
        table.add_row(
            silence.id,
            silence.state(now),
            " ".join(str(m) for m in silence.matchers),
            when(silence.starts_at),
            when(silence.ends_at),
            silence.created_by,
            silence.comment,
        )
    out().print(table)


@silence_app.command("expire")
def silence_expire(
    silence_id: Annotated[str, typer.Argument(help="Silence ID (from silence list).")],
    by: ActorOpt = "",
    state: StateOpt = None,
) -> None:
    """End a silence now."""
    store = open_store(state)
    silence = store.silence(silence_id)
    if silence is None:
        err().print(f"[red]error:[/] no silence {silence_id}")
        raise typer.Exit(1)
    now = time.time()
    if silence.state(now) == "expired":
        out().print(f"silence {silence_id} had already expired")
        return
    with store.transaction():
        store.save_silence(silence.expire(now))
        _desk(store).note_silence(silence, "expired", actor(by), now)
    out().print(f"silence {silence_id} expired")


def _desk(store: Store) -> Desk:
    """The desk as the CLI works it (default priority, SLA and problem rules)."""
    return Desk(store, DeskSettings(), problems=ProblemTracker(store))


outbox_app = typer.Typer(
    help="Deliveries to notification targets and external desks; dead letters.",
    invoke_without_command=True,
)
app.add_typer(outbox_app, name="outbox")

StatusFilter = Annotated[
    list[str] | None,
    typer.Option("--status", help="pending, sent or dead (repeatable; default: not sent)."),
]


@outbox_app.callback()
def outbox(
    ctx: typer.Context,
    status: StatusFilter = None,
    incident: Annotated[int | None, typer.Option(help="Only this incident's.", min=1)] = None,
    state: StateOpt = None,
) -> None:
    """What is queued, what was given up on (dead letters) and why; secrets masked."""
    if ctx.invoked_subcommand is not None:
        return
    statuses = status or ["pending", "dead"]
    unknown = sorted(set(statuses) - {"pending", "sent", "dead"})
    if unknown:
        raise typer.BadParameter(f"unknown status {unknown[0]!r}", param_hint="--status")
    rows = open_store(state).outbox(incident, statuses)
    table = Table(title=f"Outbox ({', '.join(statuses)})")
    for column in ("ID", "Incident", "Event", "To", "Status", "Attempts", "Next try", "Error"):
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(
            str(row.id),
            str(row.incident_id or "-"),
            row.event,
            shown_target(row),
            row.status,
            str(row.attempts),
            when(row.next_attempt_at) if row.status == "pending" else "-",
            row.last_error or "",
        )
    out().print(table if rows else "nothing in the outbox with that status")


@outbox_app.command("retry")
def outbox_retry(
    row_id: Annotated[int, typer.Argument(help="Outbox row ID (a dead letter).", min=1)],
    state: StateOpt = None,
) -> None:
    """Queue a dead letter again; the daemon delivers it on its next tick."""
    store = open_store(state)
    with store.transaction():
        requeued = store.requeue(row_id, time.time())
    if not requeued:
        err().print(f"[red]error:[/] no dead letter {row_id}")
        raise typer.Exit(1)
    out().print(f"outbox row {row_id} queued again")


class ReportFormat(StrEnum):
    TABLE = "table"
    JSON = "json"
    CSV = "csv"
    HTML = "html"


@app.command()
def report(
    since: Annotated[str, typer.Option(help="Period, back from now (e.g. 7d, 30d).")] = "30d",
    service: Annotated[str, typer.Option(help="Only incidents touching this service.")] = "",
    format_: Annotated[ReportFormat, typer.Option("--format")] = ReportFormat.TABLE,
    plots: Annotated[
        Path | None, typer.Option(help="Write volume.png and mttr.png to this directory.")
    ] = None,
    state: StateOpt = None,
) -> None:
    """Desk KPIs: MTTA, MTTR, SLA compliance, escalation and reopen rates, volume, causes."""
    seconds = duration_option(since, "--since")
    now = time.time()
    figures = build_report(open_store(state), now - seconds, now, service)
    drawn = plot(figures, plots) if plots is not None else []
    if format_ == ReportFormat.JSON:
        sys.stdout.write(as_json(figures) + "\n")
    elif format_ == ReportFormat.CSV:
        sys.stdout.write(as_csv(figures))
    elif format_ == ReportFormat.HTML:
        if not drawn:
            with tempfile.TemporaryDirectory() as scratch:
                sys.stdout.write(as_html(figures, plot(figures, Path(scratch))))
        else:
            sys.stdout.write(as_html(figures, drawn))
    else:
        _report_tables(figures)
    for path in drawn:
        err().print(f"plot written to {path}")


def _report_tables(figures: Report) -> None:
    console = out()
    kpis = Table(
        title=f"Desk KPIs since {when(figures.since)}"
        + (f" · {figures.service}" if figures.service else "")
    )
    kpis.add_column("KPI")
    kpis.add_column("Value", justify="right")
    shown = {
        "incidents": str(figures.incidents),
        "MTTA": duration(figures.mtta),
        "MTTR": duration(figures.mttr),
        "median time to acknowledge": duration(figures.median_tta),
        "median time to resolve": duration(figures.median_ttr),
        "escalation rate": _percent(figures.rate(figures.escalated)),
        "resolved without escalation": _percent(
            figures.rate(figures.resolved_without_escalation, figures.resolved)
        ),
        "reopen rate": _percent(figures.rate(figures.reopened)),
    }
    for name, value in shown.items():
        kpis.add_row(name, value)
    console.print(kpis)
    sla = Table(title="SLA compliance by priority")
    for column in ("Priority", "Incidents", "Judged", "Met", "Compliance"):
        sla.add_column(column, justify="right")
    for priority, p in figures.by_priority.items():
        sla.add_row(
            priority,
            str(p.incidents),
            str(p.sla_judged),
            str(p.sla_met),
            _percent(p.sla_compliance),
        )
    console.print(sla)
    for title, entries in (
        ("Volume per day", figures.per_day.items()),
        ("Volume per service", list(figures.per_service.items())[:15]),
        ("Top recurring root causes", figures.top_causes),
    ):
        table = Table(title=title)
        table.add_column("")
        table.add_column("Incidents", justify="right")
        for key, count in entries:
            table.add_row(key, str(count))
        console.print(table)


def _percent(share: float | None) -> str:
    return "-" if share is None else f"{share:.1%}"
