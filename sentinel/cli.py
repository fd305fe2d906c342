"""The ``sentinel`` command: run the daemon and work the desk. Thin: it parses and prints."""

from __future__ import annotations

import getpass
import json
import logging
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import platformdirs
import typer
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from sentinel.config import Config, ConfigError, default_rules_dir, load_config
from sentinel.correlate import ServiceConfig
from sentinel.correlate.draw import draw_subgraph
from sentinel.correlate.importers import (
    Orientation,
    TopologyImportError,
    services_from_adjacency_csv,
    services_from_prometheus,
    services_yaml,
)
from sentinel.correlate.problems import ProblemError, ProblemTracker
from sentinel.detect.anomaly import AnomalyRuleConfig
from sentinel.detect.backtest import SeriesError, find_inputs, read_series, replay, write_replayed
from sentinel.model import Change, Incident, Problem
from sentinel.schema import parse_duration
from sentinel.store import MAX_ROW_ID, Store, StoreError
from sentinel.tickets import Desk, DeskError, DeskSettings
from sentinel.tickets.policy import masked

app = typer.Typer(
    help="Monitoring that turns system health into well-run service-desk work.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
incidents_app = typer.Typer(help="The incident queue: list, show.", invoke_without_command=True)
app.add_typer(incidents_app, name="incidents")
problems_app = typer.Typer(
    help="Problem records (recurring root causes).", invoke_without_command=True
)
app.add_typer(problems_app, name="problems")
change_app = typer.Typer(help="Change events: deploys and config changes, suspects in ranking.")
app.add_typer(change_app, name="change")
topology_app = typer.Typer(help="Build the service topology from what describes it already.")
app.add_typer(topology_app, name="topology")


def out() -> Console:
    """A console per call, so width follows the terminal (or COLUMNS) at that moment."""
    return Console()


def err() -> Console:
    return Console(stderr=True)


IncidentArg = Annotated[int, typer.Argument(help="Incident ID.", min=1, max=MAX_ROW_ID)]
StateOpt = Annotated[
    Path | None,
    typer.Option(
        "--state",
        envvar="SENTINEL_HOME",
        help="State directory (default: the user's state dir; env SENTINEL_HOME).",
        show_default=False,
    ),
]
RulesOpt = Annotated[
    list[Path] | None,
    typer.Option(
        "--rules", help="Configuration directory or file (repeatable; default: embedded)."
    ),
]


def state_dir(state: Path | None) -> Path:
    return state or Path(platformdirs.user_state_dir("sentinel"))


def open_store(state: Path | None) -> Store:
    try:
        return Store(state_dir(state) / "sentinel.db")
    except StoreError as exc:
        err().print(f"[red]error:[/] {exc}")
        raise typer.Exit(1) from None


def load_or_exit(rules: list[Path] | None) -> Config:
    try:
        config = load_config(rules or None)
    except ConfigError as exc:
        for issue in exc.issues:
            err().print(str(issue), markup=False, highlight=False, soft_wrap=True)
        err().print(f"{len(exc.issues)} configuration error(s)", style="red")
        raise typer.Exit(2) from None
    for warning in config.warnings:
        err().print(f"warning: {warning}", markup=False)
    return config


def _when(ts: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts)) if ts else "-"


def _age(ts: float, now: float) -> str:
    seconds = int(max(0, now - ts))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


@app.command()
def run(
    rules: RulesOpt = None,
    state: StateOpt = None,
    listen: Annotated[
        str | None, typer.Option(help="HOST:PORT for health, metrics and API.")
    ] = None,
    log_level: Annotated[str, typer.Option(help="debug, info, warning or error.")] = "info",
) -> None:
    """Run the daemon (embedded defaults: monitor this machine) until SIGINT/SIGTERM."""
    from sentinel.daemon import serve

    logging.basicConfig(
        level=getattr(logging, log_level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    for noisy in ("apprise", "aiohttp.access"):
        logging.getLogger(noisy).setLevel(logging.ERROR)
    config = load_or_exit(rules)
    if listen:
        config.server = config.server.model_copy(update={"listen": listen})
    store = open_store(state)
    try:
        serve(config, store)
    except OSError as exc:
        err().print(f"[red]error:[/] cannot listen on {config.server.listen}: {exc.strerror}")
        raise typer.Exit(1) from None
    finally:
        store.close()


@app.command("check-config")
def check_config(
    paths: Annotated[list[Path] | None, typer.Argument(help="Directories or files.")] = None,
) -> None:
    """Check a configuration; print every error as path:line and exit 2 if any."""
    config = load_or_exit(paths)
    policies = config.desk.policies
    out().print(
        f"configuration OK: {len(config.sources)} file(s), {len(config.targets)} target(s), "
        f"{len(config.rules)} rule(s), {len(config.services)} service(s), "
        f"{len(policies)} escalation polic{'y' if len(policies) == 1 else 'ies'}"
    )
    for policy in policies.values():
        for number, level in enumerate(policy.levels, start=1):
            for url in level.notify:
                out().print(f"  {policy.name} level {number}: {masked(url)}", markup=False)
    if not paths:
        out().print(f"(embedded defaults from {default_rules_dir()})")


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
            due = ("[red]BREACHED[/] " if ticket.ack_breached else "") + _when(
                ticket.acknowledge_due
            )
        table.add_row(
            str(incident.id),
            incident.priority,
            incident.status,
            incident.title,
            ", ".join(incident.services),
            cause,
            _age(incident.created_at, now),
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
        f"opened {_when(incident.created_at)} · acknowledged "
        f"{_when(incident.acknowledged_at)} · resolved {_when(incident.resolved_at)}"
    )
    if ticket:
        out().print(
            f"SLA: acknowledge by {_when(ticket.acknowledge_due)}"
            f"{' [red](breached)[/]' if ticket.ack_breached else ''}, resolve by "
            f"{_when(ticket.resolve_due)}{' [red](breached)[/]' if ticket.resolve_breached else ''}"
        )
    if incident.next_escalation_at:
        out().print(f"next escalation {_when(incident.next_escalation_at)}")
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
            alert.name, alert.status, _when(alert.starts_at), _when(alert.ends_at), alert.summary
        )
    out().print(alerts)
    timeline = Table(title="Timeline")
    for column in ("When", "What", "Who", "Detail"):
        timeline.add_column(column, overflow="fold")
    for entry in store.timeline(incident_id):
        timeline.add_row(_when(entry.at), entry.kind, entry.actor, entry.text)
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


ActorOpt = Annotated[str, typer.Option("--by", help="Who is acting (default: your user name).")]


@app.command()
def ack(
    incident_id: IncidentArg,
    by: ActorOpt = "",
    state: StateOpt = None,
) -> None:
    """Acknowledge an incident: you own it, escalation stops."""
    _desk_action(state, "ack", incident_id, by or getpass.getuser())


@app.command()
def resolve(
    incident_id: IncidentArg,
    by: ActorOpt = "",
    reason: Annotated[str, typer.Option(help="Why it is resolved.")] = "",
    state: StateOpt = None,
) -> None:
    """Resolve an incident by hand (its firing alerts are closed with it)."""
    _desk_action(state, "resolve", incident_id, by or getpass.getuser(), reason)


ProblemArg = Annotated[int, typer.Argument(help="Problem ID.", min=1, max=MAX_ROW_ID)]


@problems_app.callback()
def problems(ctx: typer.Context, state: StateOpt = None) -> None:
    """List problem records: recurring root causes across incidents."""
    if ctx.invoked_subcommand is not None:
        return
    rows = open_store(state).problems()
    if not rows:
        out().print("no problem records yet")
        return
    table = Table(title="Problems")
    for column in ("ID", "Signature", "Occurrences", "Last seen", "MTBF", "Services", "Status"):
        table.add_column(column, overflow="fold")
    for problem in rows:
        table.add_row(
            str(problem.id),
            problem.signature,
            str(problem.occurrences),
            _when(problem.last_seen),
            _duration(problem.mtbf),
            ", ".join(problem.services),
            problem.status,
        )
    out().print(table)


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f} {unit}"
    return f"{seconds:.0f} s"


def _get_problem(store: Store, problem_id: int) -> Problem:
    problem = store.problem(problem_id)
    if problem is None:
        err().print(f"[red]error:[/] no problem {problem_id}")
        raise typer.Exit(1)
    return problem


@problems_app.command("show")
def problems_show(
    problem_id: ProblemArg,
    graph: Annotated[
        Path | None,
        typer.Option(help="Draw the affected part of the topology to this PNG or SVG file."),
    ] = None,
    rules: RulesOpt = None,
    state: StateOpt = None,
) -> None:
    """One problem: its incidents, timeline and the evidence behind its root cause."""
    store = open_store(state)
    problem = _get_problem(store, problem_id)
    console = out()
    console.print(f"[bold]problem {problem.id}[/]: {problem.signature} — {problem.status}")
    console.print(
        f"occurrences {problem.occurrences} · first seen {_when(problem.first_seen)} · "
        f"last seen {_when(problem.last_seen)} · MTBF {_duration(problem.mtbf)}"
    )
    console.print(f"services: {', '.join(problem.services) or '-'}")
    if problem.workaround:
        console.print(f"workaround: {problem.workaround}")
    linked = [i for i in map(store.incident, problem.incident_ids) if i is not None]
    table = Table(title="Incidents")
    for column in ("ID", "Opened", "Resolved", "Priority", "Title"):
        table.add_column(column, overflow="fold")
    for incident in linked:
        table.add_row(
            str(incident.id),
            _when(incident.created_at),
            _when(incident.resolved_at),
            incident.priority,
            incident.title,
        )
    console.print(table)
    events = [(e.at, e.kind, e.text, e.actor) for e in store.problem_timeline(problem.id)]
    for incident in linked:
        events.append((incident.created_at, "incident", f"#{incident.id} opened", "sentinel"))
        if incident.resolved_at is not None:
            events.append(
                (incident.resolved_at, "incident", f"#{incident.id} resolved", "sentinel")
            )
    timeline = Table(title="Timeline")
    for column in ("When", "What", "", "Who"):
        timeline.add_column(column, overflow="fold")
    for at, kind, text, actor in sorted(events):
        timeline.add_row(_when(at), kind, text, actor)
    console.print(timeline)
    latest = max(linked, key=lambda i: i.created_at, default=None)
    if latest and latest.root_causes:
        console.print(f"evidence (incident #{latest.id}):")
        for line in latest.root_causes[0].evidence:
            console.print(f"  - {line}")
    if graph is not None:
        root = problem.signature.split("/", 1)[0]
        try:
            draw_subgraph(load_or_exit(rules).topology, root, problem.services, graph)
        except (OSError, ValueError) as exc:
            err().print(f"[red]error:[/] cannot write {graph}: {exc}")
            raise typer.Exit(1) from None
        console.print(f"graph written to {graph}")


@problems_app.command("known-error")
def problems_known_error(
    problem_id: ProblemArg,
    workaround: Annotated[str, typer.Option(help="What on-call staff should do meanwhile.")],
    by: ActorOpt = "",
    state: StateOpt = None,
) -> None:
    """Mark a problem a known error; its workaround is shown on every matching incident."""
    _problem_action(
        state, lambda t: t.mark_known_error(problem_id, workaround, _actor(by), time.time())
    )


@problems_app.command("resolve")
def problems_resolve(
    problem_id: ProblemArg,
    by: ActorOpt = "",
    reason: Annotated[str, typer.Option(help="How it was fixed.")] = "",
    state: StateOpt = None,
) -> None:
    """Resolve a problem: fixed for good (it reopens if the root cause recurs)."""
    _problem_action(state, lambda t: t.resolve(problem_id, _actor(by), time.time(), reason))


def _actor(by: str) -> str:
    return by or getpass.getuser()


def _problem_action(state: Path | None, action: Callable[[ProblemTracker], Problem]) -> None:
    tracker = ProblemTracker(open_store(state))
    try:
        problem = action(tracker)
    except ProblemError as exc:
        err().print(f"[red]error:[/] {exc}")
        raise typer.Exit(1) from None
    out().print(f"problem {problem.id} is now {problem.status}")


@change_app.command("add")
def change_add(
    service: Annotated[str, typer.Argument(help="The service that changed.")],
    summary: Annotated[str, typer.Option(help="What changed.")],
    kind: Annotated[str, typer.Option(help="deploy, config, infrastructure, …")] = "deploy",
    version: Annotated[str, typer.Option(help="Version deployed, if any.")] = "",
    at: Annotated[float | None, typer.Option(help="When, in unix seconds (default: now).")] = None,
    by: ActorOpt = "",
    state: StateOpt = None,
) -> None:
    """Record a change; services changed shortly before trouble rank as suspects."""
    store = open_store(state)
    change = Change(
        0, service, kind, summary, time.time() if at is None else at, version, _actor(by)
    )
    with store.transaction():
        change_id = store.add_change(change)
    out().print(f"change {change_id} recorded: {kind} on {service} at {_when(change.at)}")


@change_app.command("list")
def change_list(
    since: Annotated[str, typer.Option(help="How far back (e.g. 1h, 7d).")] = "7d",
    state: StateOpt = None,
) -> None:
    """Recent changes, newest first."""
    try:
        seconds = parse_duration(since)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--since") from None
    table = Table(title="Changes")
    for column in ("ID", "When", "Service", "Kind", "Version", "Summary", "By"):
        table.add_column(column, overflow="fold")
    for c in open_store(state).changes(since=time.time() - seconds):
        table.add_row(str(c.id), _when(c.at), c.service, c.kind, c.version, c.summary, c.author)
    out().print(table)


@topology_app.command("import-csv")
def topology_import_csv(
    path: Annotated[
        Path, typer.Argument(help="Adjacency matrix: node names in row 1 and column 1.")
    ],
    orientation: Annotated[
        Orientation, typer.Option(help="What a 1 at row i, column j means.")
    ] = Orientation.DEPENDS_ON,
) -> None:
    """Print a services: section from an adjacency CSV (save it under your rules dir)."""
    _print_services(lambda: services_from_adjacency_csv(path, orientation))


@topology_app.command("import-prometheus")
def topology_import_prometheus(
    url: Annotated[str, typer.Argument(help="Prometheus base URL, e.g. http://127.0.0.1:9090.")],
) -> None:
    """Print a services: section from Prometheus target labels (service or job;
    depends_on, tier, owner)."""
    _print_services(lambda: services_from_prometheus(url))


def _print_services(source: Callable[[], list[ServiceConfig]]) -> None:
    try:
        services = source()
    except TopologyImportError as exc:
        err().print(f"[red]error:[/] {exc}")
        raise typer.Exit(2) from None
    sys.stdout.write(services_yaml(services))


@app.command()
def status(
    rules: RulesOpt = None,
    state: StateOpt = None,
    url: Annotated[str | None, typer.Option(help="Daemon base URL (default: from config).")] = None,
) -> None:
    """Daemon health and the open incidents by priority."""
    config = load_or_exit(rules)
    base = url or f"http://{config.server.listen}"
    try:
        with urllib.request.urlopen(f"{base}/healthz", timeout=3) as response:
            health = json.load(response)
        out().print(
            f"daemon: [green]{health['status']}[/] at {base} · up "
            f"{health['uptime_seconds']:.0f}s · {health['targets']} target(s), "
            f"down: {', '.join(health['targets_down']) or 'none'}"
        )
    except (urllib.error.URLError, OSError, ValueError, KeyError) as exc:
        out().print(f"daemon: [red]not reachable[/] at {base} ({exc})")
    store = open_store(state)
    counts = store.open_counts_by_priority()
    table = Table(title=f"Open incidents ({state_dir(state)})")
    table.add_column("Priority")
    table.add_column("Open", justify="right")
    for priority in ("P1", "P2", "P3", "P4", "P5"):
        table.add_row(priority, str(counts.get(priority, 0)))
    out().print(table)
    dead = len(store.outbox(statuses=["dead"]))
    out().print(f"outbox: {store.pending_count()} pending, {dead} dead letter(s)")


@app.command()
def backtest(
    paths: Annotated[
        list[Path], typer.Argument(help="CSV files (timestamp,value) or directories of them.")
    ],
    out_dir: Annotated[Path, typer.Option("--out", help="Where to write the scored files.")],
    rules: RulesOpt = None,
) -> None:
    """Replay recorded series through the configured anomaly rules; write score and alert."""
    config = load_or_exit(rules)
    anomaly_rules = [r for r in config.rules if isinstance(r, AnomalyRuleConfig)]
    if not anomaly_rules:
        err().print("[red]error:[/] the configuration has no anomaly rule (kind: anomaly)")
        raise typer.Exit(2)
    inputs = find_inputs(paths)
    missing = [str(p) for p, _ in inputs if not p.is_file()]
    if missing or not inputs:
        err().print(f"[red]error:[/] no such file: {', '.join(missing) or 'no CSV found'}")
        raise typer.Exit(2)
    try:
        recorded = [read_series(path, relative) for path, relative in inputs]
    except SeriesError as exc:
        err().print("error:", str(exc), style="red", markup=False, soft_wrap=True)
        raise typer.Exit(2) from None
    rows = max(len(r.ts) for r in recorded)
    with Progress(transient=True, console=err()) as progress:
        task = progress.add_task(f"replaying {len(recorded)} series", total=rows)
        replayed = replay(anomaly_rules, recorded, lambda n: progress.advance(task, n))
    table = Table(title=f"Backtest: {len(replayed)} series → {out_dir}")
    for column, justify in (
        ("Series", "left"),
        ("Rows", "right"),
        ("Alerts", "right"),
        ("Max score", "right"),
    ):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    for one in replayed:
        write_replayed(one, out_dir)
        table.add_row(
            str(one.recorded.relative),
            str(len(one.score)),
            str(int(one.alert.sum())),
            f"{one.score.max(initial=0.0):.3f}",
        )
    total_rows = sum(len(one.score) for one in replayed)
    total_alerts = sum(int(one.alert.sum()) for one in replayed)
    table.add_section()
    table.add_row("total", str(total_rows), str(total_alerts), "")
    out().print(table)
