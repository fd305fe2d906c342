"""The whole pipeline with real processes: HTTP target down → incident → page → escalate →
recover → resolve; and a SIGKILL in the middle loses nothing and duplicates nothing."""

from __future__ import annotations

import json
import signal

from typer.testing import CliRunner

from sentinel.cli import app
from sentinel.store import Store
from tests.conftest import pipeline_rules
from tests.helpers.daemon import DaemonProcess
from tests.helpers.wait import wait_until

cli = CliRunner()


def titles_at(receiver, path: str) -> list[str]:
    return [m["title"] for m in receiver.received if m["path"] == f"/{path}"]


def incidents_json(state) -> list[dict]:
    result = cli.invoke(app, ["incidents", "--all", "--json", "--state", str(state)])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_down_target_pages_escalates_and_resolves(tmp_path, target, receiver):
    rules = pipeline_rules(tmp_path / "rules", target, receiver, escalate_after="1500ms")
    state = tmp_path / "state"
    with DaemonProcess(rules, state) as daemon:
        target.healthy = False
        opened = wait_until(lambda: titles_at(receiver, "level1"), what="first page")
        assert opened == ["[P1] OPENED #1: web is down"]

        [incident] = incidents_json(state)
        assert (incident["priority"], incident["impact"], incident["urgency"]) == ("P1", 1, 1)
        assert incident["services"] == ["web"]
        assert incident["root_causes"][0]["node"] == "web"

        escalated = wait_until(lambda: titles_at(receiver, "level2"), what="escalation")
        assert escalated == ["[P1] ESCALATED (level 2) #1: web is down"]

        target.healthy = True
        for level in ("level1", "level2"):  # deliveries to the two levels run concurrently
            wait_until(lambda lv=level: len(titles_at(receiver, lv)) == 2, what="resolve notice")
        assert titles_at(receiver, "level1")[-1] == "[P1] RESOLVED #1: web is down"
        assert titles_at(receiver, "level2")[-1] == "[P1] RESOLVED #1: web is down"
        assert daemon.stop() == 0  # SIGTERM: a clean stop

    [incident] = incidents_json(state)
    assert incident["status"] == "resolved"
    shown = cli.invoke(app, ["incidents", "show", "1", "--state", str(state)], terminal_width=200)
    assert shown.exit_code == 0
    for event in ("opened", "escalated", "notification", "resolved"):
        assert event in shown.output
    store = Store(state / "sentinel.db")
    ticket = store.ticket(1)
    assert ticket is not None
    assert ticket.acknowledge_due - incident["created_at"] == 15 * 60  # P1 SLA default


def test_acknowledge_stops_escalation(tmp_path, target, receiver):
    rules = pipeline_rules(tmp_path / "rules", target, receiver, escalate_after="1500ms")
    state = tmp_path / "state"
    with DaemonProcess(rules, state) as daemon:
        target.healthy = False
        wait_until(lambda: titles_at(receiver, "level1"), what="first page")
        acked = cli.invoke(app, ["ack", "1", "--by", "alice", "--state", str(state)])
        assert acked.exit_code == 0, acked.output
        wait_until(lambda: len(titles_at(receiver, "level1")) == 2, what="ack notice")
        assert titles_at(receiver, "level1")[1] == "[P1] ACKNOWLEDGED by alice #1: web is down"
        # well past the escalation deadline, as seen by the daemon's own ticks
        started = daemon.healthy()["uptime_seconds"]
        wait_until(lambda: daemon.healthy()["uptime_seconds"] > started + 2.5, what="ticks")
        assert titles_at(receiver, "level2") == []


def test_sigkill_loses_nothing_and_duplicates_nothing(tmp_path, target, receiver):
    rules = pipeline_rules(tmp_path / "rules", target, receiver, escalate_after="4s")
    state = tmp_path / "state"
    daemon = DaemonProcess(rules, state).start()
    try:
        target.healthy = False
        wait_until(lambda: titles_at(receiver, "level1"), what="first page")
        store = Store(state / "sentinel.db")
        # A delivery in flight when the process dies is repeated (at least once); kill once
        # the page is recorded as sent, so that any repeat below is a real duplicate.
        wait_until(
            lambda: all(row.status == "sent" for row in store.outbox(1)), what="page recorded"
        )
        deadline = store.incident(1).next_escalation_at
        assert daemon.stop(signal.SIGKILL) == -signal.SIGKILL
        assert titles_at(receiver, "level2") == []

        daemon = DaemonProcess(rules, state, port=daemon.port).start()
        wait_until(lambda: titles_at(receiver, "level2"), timeout=30, what="resumed escalation")
        escalated_at = next(e.at for e in store.timeline(1) if e.kind == "escalated")
        assert escalated_at >= deadline  # the original timer, not a fresh one

        # let the restarted daemon run a while longer: nothing new may appear
        started = daemon.healthy()["uptime_seconds"]
        wait_until(lambda: daemon.healthy()["uptime_seconds"] > started + 1.5, what="ticks")
        assert titles_at(receiver, "level1") == ["[P1] OPENED #1: web is down"]
        assert titles_at(receiver, "level2") == ["[P1] ESCALATED (level 2) #1: web is down"]
        assert [i["id"] for i in incidents_json(state)] == [1]
        assert store.ticket(1) is not None and store.ticket(2) is None
    finally:
        daemon.stop(signal.SIGKILL)


def test_embedded_defaults_collect_this_machine(tmp_path):
    """`sentinel run` with no configuration watches the host it runs on."""
    import urllib.request

    def host_samples(daemon) -> float:
        url = f"http://127.0.0.1:{daemon.port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as response:
            page = response.read().decode()
        for line in page.splitlines():
            if line.startswith('sentinel_samples_collected_total{kind="host"}'):
                return float(line.split()[-1])
        return 0.0

    with DaemonProcess(None, tmp_path / "state") as daemon:
        count = wait_until(lambda: host_samples(daemon), timeout=30, what="host samples")
        assert count > 20
        assert daemon.healthy()["targets"] == 1
        assert daemon.stop() == 0
    first = samples_learned(tmp_path / "state")
    assert len(first) > 20 and min(first.values()) >= 1

    # A restart goes on from what was learned instead of starting over.
    with DaemonProcess(None, tmp_path / "state") as daemon:
        wait_until(lambda: host_samples(daemon), timeout=30, what="host samples")
        assert daemon.stop() == 0
    second = samples_learned(tmp_path / "state")
    assert all(second[series] > first[series] for series in first)


def samples_learned(state) -> dict:
    """Samples the default anomaly rule has learned from, by series, as saved in the store."""
    from sentinel.config import load_config
    from sentinel.detect.anomaly import AnomalyRules

    rules = AnomalyRules.from_configs(load_config().rules)
    store = Store(state / "sentinel.db")
    try:
        rules.load(store.learned("anomaly"))
    finally:
        store.close()
    counts = rules.tracks[0].model.arrays()["fine.state"][0]
    return dict(zip(rules._series[0], counts.tolist(), strict=True))


def test_the_daemon_is_built_before_what_lives_as_long_as_the_process_is_frozen(
    tmp_path, monkeypatch
):
    """``serve`` hides what lives as long as the process from the cyclic collector, whose
    full collections otherwise walk it under load: the topology among it (at 10,000
    services, 110 ms a collection), which the daemon builds."""
    import gc

    from sentinel.config import Config
    from sentinel.correlate import ServiceConfig
    from sentinel.daemon import Daemon, serve

    seen: list[bool] = []

    async def run(daemon: Daemon, stop) -> None:
        adjacency = daemon.pipeline.topology.graph._adj
        seen.append(all(obj is not adjacency for obj in gc.get_objects()))

    monkeypatch.setattr(Daemon, "run", run)
    services = [ServiceConfig(name="db"), ServiceConfig(name="api", depends_on=["db"])]
    try:
        serve(Config(services=services), Store(tmp_path / "sentinel.db"))
    finally:
        gc.unfreeze()
    assert seen == [True]
