"""Topology importers end to end: the CLI on an adjacency CSV, and on a real Prometheus's
target labels; what they print loads as configuration."""

from __future__ import annotations

from typer.testing import CliRunner

from sentinel.cli import app
from sentinel.config import load_config
from tests.helpers import processes
from tests.helpers.wait import wait_until

cli = CliRunner()


def test_import_csv_prints_services_that_load(tmp_path):
    matrix = tmp_path / "graph.csv"
    matrix.write_text(",web,api,db\nweb,0,1,0\napi,0,0,1\ndb,0,0,0\n")
    result = cli.invoke(app, ["topology", "import-csv", str(matrix)])
    assert result.exit_code == 0, result.output
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "services.yaml").write_text(result.output)
    topology = load_config([tmp_path / "rules"]).topology
    assert topology.depends_on("web", "db") and not topology.depends_on("db", "web")

    missing = cli.invoke(app, ["topology", "import-csv", str(tmp_path / "nope.csv")])
    assert missing.exit_code == 2 and "nope.csv" in missing.output


def test_import_prometheus_reads_target_labels(tmp_path):
    labelled = (
        "  - job_name: shop\n    static_configs:\n"
        "      - targets: ['127.0.0.1:1']\n"
        "        labels: {service: api, depends_on: 'db, cache, gw', tier: '1', owner: payments}\n"
        "      - targets: ['127.0.0.1:2']\n"
        "        labels: {service: db}\n"
        "      - targets: ['127.0.0.1:4']\n"
        "        labels: {service: gw, remote: 'true'}\n"
    )
    service, base = processes.prometheus(tmp_path, "127.0.0.1:3", extra_config=labelled)
    with service:

        def imported():
            result = cli.invoke(app, ["topology", "import-prometheus", base])
            return result if "name: api" in result.output else None

        result = wait_until(imported, timeout=30, what="prometheus to list its targets")
    assert result.exit_code == 0
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "services.yaml").write_text(result.output)
    topology = load_config([tmp_path / "rules"]).topology
    assert topology.depends_on("api", "db") and topology.depends_on("api", "cache")
    assert topology.tier("api") == 1
    assert topology.remote == {"gw"}
    assert "node" in topology  # the job name when there is no service label

    down = cli.invoke(app, ["topology", "import-prometheus", base])
    assert down.exit_code == 2 and "cannot read targets" in down.output
