"""The strict loader: every error names file:line and field; one fixture file per case."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from sentinel.config import ConfigError, default_rules_dir, load_config
from sentinel.daemon import Daemon
from sentinel.model import Alert, AlertStatus
from sentinel.store import Store

FIXTURES = Path(__file__).parent / "fixtures" / "config_errors"
CASES = sorted(FIXTURES.glob("*.yaml"))


def expected_errors(path: Path) -> list[str]:
    return [
        line.removeprefix("# error: ").replace("{path}", str(path))
        for line in path.read_text().splitlines()
        if line.startswith("# error: ")
    ]


@pytest.mark.parametrize("case", CASES, ids=[c.stem for c in CASES])
def test_each_error_is_reported_with_file_line_and_field(case: Path):
    with pytest.raises(ConfigError) as raised:
        load_config([case])
    assert [str(issue) for issue in raised.value.issues] == expected_errors(case)


def test_every_error_in_every_file_is_collected(tmp_path):
    cases = [FIXTURES / f"{name}.yaml" for name in ("unknown_key", "invalid_yaml", "bad_matrix")]
    for case in cases:
        (tmp_path / case.name).write_text(case.read_text())
    with pytest.raises(ConfigError) as raised:
        load_config([tmp_path])
    expected = [e for case in cases for e in expected_errors(tmp_path / case.name)]
    assert sorted(map(str, raised.value.issues)) == sorted(expected)


def test_embedded_defaults_monitor_this_machine():
    config = load_config()
    assert [t.kind for t in config.targets] == ["host"]
    assert config.server.listen.startswith("127.0.0.1:")
    assert {"TargetDown", "HighCpu", "DiskFull"} <= {r.name for r in config.rules}
    assert config.sources and all(p.parent == default_rules_dir() for p in config.sources)


def test_embedded_defaults_open_incidents_by_their_own_matrix_and_sla(tmp_path):
    """The desk settings are the files' own, SLA section and all: a critical alert on a
    service of no stated tier (impact 2) is P2, to be acknowledged within 30 minutes."""
    config = load_config()
    assert config.desk.priority.breadth == 3
    daemon = Daemon(config, Store(tmp_path / "sentinel.db"), clock=lambda: 0.0)
    down = Alert(
        {"alertname": "Down", "target": "web-1", "severity": "critical"},
        {},
        AlertStatus.FIRING,
        0.0,
    )
    daemon.pipeline.alerts([down], now=0.0)
    [incident] = daemon.store.unresolved_incidents()
    assert incident.priority == "P2"
    ticket = daemon.store.ticket(incident.id)
    assert ticket is not None and ticket.acknowledge_due == 30 * 60


def test_dependency_cycle_is_allowed_but_reported(tmp_path):
    (tmp_path / "topology.yaml").write_text(
        "services:\n  - {name: a, depends_on: [b]}\n  - {name: b, depends_on: [a]}\n"
    )
    config = load_config([tmp_path])
    assert config.warnings == ["dependency cycle: a -> b -> a"]


def test_sections_merge_across_files_but_singletons_do_not(tmp_path):
    (tmp_path / "a.yaml").write_text("server: {listen: '127.0.0.1:1'}\nservices: [{name: a}]\n")
    (tmp_path / "b.yaml").write_text("server: {listen: '127.0.0.1:2'}\nservices: [{name: b}]\n")
    with pytest.raises(ConfigError) as raised:
        load_config([tmp_path])
    assert [str(i) for i in raised.value.issues] == [
        f"{tmp_path / 'b.yaml'}:1: server: section already given at {tmp_path / 'a.yaml'}:1"
    ]


@pytest.mark.parametrize("command", ["check-config", "run"])
def test_cli_exits_2_with_the_errors_and_no_traceback(tmp_path, command):
    bad = FIXTURES / "dangling_dependency.yaml"
    args = [bad] if command == "check-config" else ["--rules", bad, "--state", tmp_path]
    result = subprocess.run(
        [sys.executable, "-m", "sentinel", command, *map(str, args)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert expected_errors(bad)[0] in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_missing_config_directory_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="no such file or directory"):
        load_config([tmp_path / "nope"])
