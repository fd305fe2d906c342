"""Problem management and what feeds it: ``problems``, ``change``, ``topology``."""

from __future__ import annotations

import enum
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, get_args

import typer
from rich.table import Table

from sentinel.cli.common import (
    MAX_ROW_ID,
    SHOWN,
    ActorOpt,
    AllOpt,
    RulesOpt,
    StateOpt,
    actor,
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
from sentinel.correlate import ServiceConfig
from sentinel.correlate.changes import ChangeFileError, ChangeKind, read_changes
from sentinel.correlate.draw import draw_subgraph
from sentinel.correlate.importers import (
    Orientation,
    TopologyImportError,
    services_from_adjacency_csv,
    services_from_prometheus,
    services_yaml,
)
from sentinel.correlate.problems import ProblemError, ProblemTracker, written
from sentinel.model import Change, Problem
from sentinel.store import Store

problems_app = typer.Typer(
    help="Problem records (recurring root causes).", invoke_without_command=True
)
app.add_typer(problems_app, name="problems")
change_app = typer.Typer(help="Change events: deploys and config changes, suspects in ranking.")
app.add_typer(change_app, name="change")
topology_app = typer.Typer(
    help="Build the service topology from what describes it already; what regroupings taught."
)
app.add_typer(topology_app, name="topology")

# The kinds a change may have, as the API takes them.
ChangeKindOpt = enum.Enum("ChangeKindOpt", {kind: kind for kind in get_args(ChangeKind)}, type=str)
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
            when(problem.last_seen),
            duration(problem.mtbf),
            services_cell(problem.services),
            problem.status,
        )
    out().print(table)


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
    every: AllOpt = False,
    state: StateOpt = None,
) -> None:
    """One problem: its incidents, timeline and the evidence behind its root cause."""
    store = open_store(state)
    problem = _get_problem(store, problem_id)
    console = out()
    console.print(f"[bold]problem {problem.id}[/]: {problem.signature} — {problem.status}")
    console.print(
        f"occurrences {problem.occurrences} · first seen {when(problem.first_seen)} · "
        f"last seen {when(problem.last_seen)} · MTBF {duration(problem.mtbf)}"
    )
    console.print(f"services: {services_shown(problem.services, every)}")
    if problem.workaround:
        console.print(f"workaround: {problem.workaround}")
    linked = store.problem_incidents(problem.id, -1 if every else SHOWN)[::-1]
    table = Table(title="Incidents")
    for column in ("ID", "Opened", "Resolved", "Took", "Priority", "Title"):
        table.add_column(column, overflow="fold")
    for incident in linked:
        resolved = incident.resolved_at
        table.add_row(
            str(incident.id),
            when(incident.created_at),
            when(resolved),
            duration(None if resolved is None else resolved - incident.created_at),
            incident.priority,
            incident.title,
        )
    if len(linked) < problem.occurrences:
        table.caption = f"the latest {len(linked)} of {problem.occurrences:,}; --all for every one"
    console.print(table)
    # The problem's own entries (one per recurrence) and its incidents': the latest of the
    # two together are among the latest of each.
    own = store.problem_timeline(problem.id, -1 if every else SHOWN)
    events = [(e.at, e.kind, e.text, e.actor) for e in own]
    for incident in linked:
        events.append((incident.created_at, "incident", f"#{incident.id} opened", "sentinel"))
        if incident.resolved_at is not None:
            events.append(
                (incident.resolved_at, "incident", f"#{incident.id} resolved", "sentinel")
            )
        events += [
            (e.at, e.kind, f"#{incident.id}: {e.text}", e.actor)
            for e in written(store.timeline(incident.id))
        ]
    timeline = Table(title="Timeline")
    for column in ("When", "What", "", "Who"):
        timeline.add_column(column, overflow="fold")
    events.sort()
    for at, kind, text, who in events if every else events[-SHOWN:]:
        timeline.add_row(when(at), kind, text, who)
    if (
        timeline.row_count < len(events)
        or len(linked) < problem.occurrences
        or len(own) < store.count_problem_timeline(problem.id)
    ):
        timeline.caption = (
            f"the latest {timeline.row_count} of the problem's entries and its latest "
            f"{len(linked)} incidents'; --all for every one"
        )
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
        state, lambda t: t.mark_known_error(problem_id, workaround, actor(by), time.time())
    )


@problems_app.command("resolve")
def problems_resolve(
    problem_id: ProblemArg,
    by: ActorOpt = "",
    reason: Annotated[str, typer.Option(help="How it was fixed.")] = "",
    state: StateOpt = None,
) -> None:
    """Resolve a problem: fixed for good (it reopens if the root cause recurs)."""
    _problem_action(state, lambda t: t.resolve(problem_id, actor(by), time.time(), reason))


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
    kind: Annotated[
        ChangeKindOpt, typer.Option(help="What kind of change.")
    ] = ChangeKindOpt.deploy,
    version: Annotated[str, typer.Option(help="Version deployed, if any.")] = "",
    at: Annotated[float | None, typer.Option(help="When, in unix seconds (default: now).")] = None,
    by: ActorOpt = "",
    state: StateOpt = None,
) -> None:
    """Record a change; services changed shortly before trouble rank as suspects."""
    store = open_store(state)
    change = Change(
        0, service, kind.value, summary, time.time() if at is None else at, version, actor(by)
    )
    with store.transaction():
        change_id = store.add_change(change)
    out().print(f"change {change_id} recorded: {kind.value} on {service} at {when(change.at)}")


@change_app.command("import")
def change_import(
    path: Annotated[
        Path, typer.Argument(help="JSON Lines: one change a line, as POST /api/v1/changes takes.")
    ],
    state: StateOpt = None,
) -> None:
    """Record the changes of a deploy log; lines recorded before are skipped, so the same
    log can be read again as it grows. A file with a bad line records nothing (exit 2)."""
    try:
        changes = read_changes(path)
    except ChangeFileError as exc:
        for problem in exc.problems:
            err().print(problem, markup=False, highlight=False)
        raise typer.Exit(2) from None
    store = open_store(state)
    with store.transaction():
        new = [c for c in changes if not store.change_recorded(c)]
        for change in new:
            store.add_change(change)
    known = len(changes) - len(new)
    out().print(f"{len(new)} change(s) recorded from {path}, {known} already recorded")


@change_app.command("list")
def change_list(
    since: Annotated[str, typer.Option(help="How far back (e.g. 1h, 7d).")] = "7d",
    state: StateOpt = None,
) -> None:
    """Recent changes, newest first."""
    seconds = duration_option(since, "--since")
    table = Table(title="Changes")
    for column in ("ID", "When", "Service", "Kind", "Version", "Summary", "By"):
        table.add_column(column, overflow="fold")
    for c in open_store(state).changes(since=time.time() - seconds):
        table.add_row(str(c.id), when(c.at), c.service, c.kind, c.version, c.summary, c.author)
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
    depends_on, tier, owner, remote)."""
    _print_services(lambda: services_from_prometheus(url))


@topology_app.command("hints")
def topology_hints(state: StateOpt = None) -> None:
    """What merges and splits taught correlation: services it joins, or keeps apart."""
    hints = open_store(state).grouping_hints()
    if not hints:
        out().print("no regroupings yet: merge or split incidents to teach correlation")
        return
    table = Table(title="Grouping hints (from merges and splits)")
    for column in ("Services", "Verdict", "When", "By"):
        table.add_column(column, overflow="fold")
    for hint in hints:
        verdict = "together" if hint.together else "apart"
        table.add_row(f"{hint.a}, {hint.b}", verdict, when(hint.at), hint.actor)
    out().print(table)


@topology_app.command("forget")
def topology_forget(
    service: Annotated[str, typer.Argument(help="One service of the pair.")],
    other: Annotated[str, typer.Argument(help="The other.")],
    state: StateOpt = None,
) -> None:
    """Forget what a merge or split taught about two services."""
    store = open_store(state)
    with store.transaction():
        forgotten = store.forget_grouping_hint(service, other)
    if not forgotten:
        err().print(f"[red]error:[/] nothing learned about {service} and {other}")
        raise typer.Exit(1)
    out().print(f"forgot {service}, {other}: correlation goes by the topology again")


def _print_services(source: Callable[[], list[ServiceConfig]]) -> None:
    try:
        services = source()
    except TopologyImportError as exc:
        err().print(f"[red]error:[/] {exc}")
        raise typer.Exit(2) from None
    sys.stdout.write(services_yaml(services))
