"""What every ``sentinel`` command shares: the root app, consoles, options, the store."""

from __future__ import annotations

import getpass
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated

import platformdirs
import typer
from rich.console import Console

from sentinel.config import Config, ConfigError, load_config
from sentinel.model import some_of
from sentinel.schema import parse_duration
from sentinel.store import MAX_ROW_ID, Store, StoreError

app = typer.Typer(
    help="Monitoring that turns system health into well-run service-desk work.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


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


def when(ts: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts)) if ts is not None else "-"


def age(ts: float, now: float) -> str:
    seconds = int(max(0, now - ts))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


ActorOpt = Annotated[str, typer.Option("--by", help="Who is acting (default: your user name).")]
# What ``show`` lists of an incident's or a problem's history: one kept open for days, or
# recurring for a year, holds thousands of alerts, entries and incidents.
SHOWN = 50
AllOpt = Annotated[
    bool, typer.Option("--all", help=f"Every row of each table, not the {SHOWN} that matter most.")
]


def actor(by: str) -> str:
    return by or getpass.getuser()


LISTED_SERVICES = 3  # a queue's row names this many services
SERVICES_SHOWN = 20  # ``show`` names this many of an incident's or a problem's services


def services_cell(services: Sequence[str]) -> str:
    """Services as a list's row shows them: the first ``LISTED_SERVICES`` and how many
    more (the root cause has a column of its own, or leads the signature): a storm's
    incident touches dozens, which would make one row a screen long.

    >>> services_cell(["api", "db", "edge", "web", "worker"]), services_cell([])
    ('api, db, edge +2 more', '-')
    """
    shown = ", ".join(services[:LISTED_SERVICES]) or "-"
    hidden = len(services) - LISTED_SERVICES
    return f"{shown} +{hidden} more" if hidden > 0 else shown


def services_shown(services: Sequence[str], every: bool) -> str:
    """Services as ``show`` names them: the first ``SERVICES_SHOWN`` and how many more,
    or all of them with ``--all``. A storm on a service thousands depend on touches
    thousands, and naming each would push the root cause and its evidence off the screen.

    >>> services_shown([f"svc-{n}" for n in range(22)], every=False)[-39:]
    'svc-19 and 2 more (--all for every one)'
    """
    if every or len(services) <= SERVICES_SHOWN:
        return ", ".join(services) or "-"
    return f"{some_of(services, SERVICES_SHOWN)} (--all for every one)"


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f} {unit}"
    return f"{seconds:.0f} s"


def duration_option(text: str, option: str) -> float:
    """A duration option (``7d``, ``90m``) in seconds, or typer's usage error naming it."""
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint=option) from None
