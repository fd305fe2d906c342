"""Running and checking the daemon: ``run``, ``check-config``, ``status``, ``backtest``."""

from __future__ import annotations

import json
import logging
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import Progress
from rich.table import Table

from sentinel.cli.common import (
    RulesOpt,
    StateOpt,
    app,
    err,
    load_or_exit,
    open_store,
    out,
    state_dir,
)
from sentinel.config import default_rules_dir
from sentinel.detect.anomaly import AnomalyRuleConfig
from sentinel.detect.backtest import SeriesError, find_inputs, read_series, replay, write_replayed
from sentinel.tickets.policy import TEAM_PREFIX, masked


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
    from sentinel.daemon import StateInUse, serve

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
    except StateInUse as exc:
        err().print(f"[red]error:[/] {exc}")
        raise typer.Exit(1) from None
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
    desk = config.desk
    for policy in policies.values():
        for number, level in enumerate(policy.levels, start=1):
            for target in level.notify:
                shown = target if target.startswith(TEAM_PREFIX) else masked(target)
                out().print(f"  {policy.name} level {number}: {shown}", markup=False)
    for team in desk.teams.values():
        rotation = f", rotation of {len(team.rotation.members)}" if team.rotation else ""
        out().print(f"  team {team.name}: {len(team.notify)} URL(s){rotation}", markup=False)
    for sink in desk.external:
        out().print(f"  sink {sink.name}: {sink.kind}, events {', '.join(sink.events)}")
    if not paths:
        out().print(f"(embedded defaults from {default_rules_dir()})")


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
