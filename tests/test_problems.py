"""Problem records from recurring root causes, known errors, change suspects, and the
problem manager's CLI, on a real store."""

from __future__ import annotations

from typer.testing import CliRunner

from sentinel.cli import app
from sentinel.correlate import ServiceConfig, Topology
from sentinel.correlate.draw import DRAWN_AT_MOST, affected_subgraph, draw_subgraph, folded
from sentinel.correlate.problems import ProblemTracker
from sentinel.model import (
    Alert,
    AlertStatus,
    Change,
    Incident,
    IncidentStatus,
    ProblemStatus,
    RootCause,
)
from tests.conftest import write_rules
from tests.helpers.api import Clock, make_daemon, run_client
from tests.helpers.steps import vm_steps

HOUR = 3600.0
cli = CliRunner()


def fire(service: str, at: float, name: str = "DbDown") -> Alert:
    labels = {"alertname": name, "severity": "critical", "service": service}
    return Alert(labels, {"summary": f"{service} broken"}, AlertStatus.FIRING, at)


def shop(tmp_path, **correlation):
    rules = write_rules(
        tmp_path / "rules",
        services=[
            {"name": "api", "depends_on": ["db"]},
            {"name": "db"},
        ],
        escalation_policies=[
            {"name": "default", "levels": [{"notify": ["json://127.0.0.1:9/page"]}]}
        ],
        correlation={"problems": {"min_occurrences": 3, "period": "7d"}, **correlation},
    )
    return make_daemon(tmp_path, rules, Clock(0)), rules


def outage(daemon, at: float, service: str = "db", name: str = "DbDown") -> int:
    """The database fails and recovers an hour later; the API fails with it."""
    root, symptom = fire(service, at, name), fire("api", at + 5, "ApiErrors")
    daemon.pipeline.alerts([root], now=at)
    daemon.pipeline.alerts([symptom], now=at + 5)
    [incident_id] = {i.id for i in daemon.store.unresolved_incidents()}
    for alert in (symptom, root):
        daemon.pipeline.alerts([alert.replace(status=AlertStatus.RESOLVED)], now=at + HOUR)
    return incident_id


def test_third_recurrence_opens_a_problem_and_later_ones_join_it(tmp_path):
    daemon, _ = shop(tmp_path)
    first, second = outage(daemon, 0), outage(daemon, 24 * HOUR)
    assert daemon.store.problems() == []
    third = outage(daemon, 48 * HOUR)
    [problem] = daemon.store.problems()
    assert problem.signature == "db/DbDown"
    assert problem.status == ProblemStatus.OPEN
    assert daemon.store.problem_incident_ids(problem.id) == [first, second, third]
    assert problem.occurrences == 3
    assert problem.mtbf == 24 * HOUR
    assert problem.services == ("api", "db")
    fourth = outage(daemon, 72 * HOUR)
    [problem] = daemon.store.problems()
    assert daemon.store.problem_incident_ids(problem.id)[-1] == fourth
    assert problem.occurrences == 4 and problem.last_seen == 72 * HOUR
    assert any(e.kind == "problem" for e in daemon.store.timeline(fourth))


def test_other_failures_and_old_incidents_do_not_count(tmp_path):
    daemon, _ = shop(tmp_path)
    outage(daemon, 0)  # more than 7 days before the last: outside the period
    outage(daemon, 10 * 24 * HOUR)
    outage(daemon, 11 * 24 * HOUR, name="DbSlow")  # same node, another failure class
    outage(daemon, 12 * 24 * HOUR)
    assert daemon.store.problems() == []


def test_known_error_workaround_reaches_new_incidents_and_resolved_problem_reopens(tmp_path):
    daemon, _ = shop(tmp_path)
    for day in range(3):
        outage(daemon, day * 24 * HOUR)
    [problem] = daemon.store.problems()
    tracker = ProblemTracker(daemon.store)
    tracker.mark_known_error(problem.id, "restart pgbouncer", "alice", now=80 * HOUR)

    daemon.pipeline.alerts([fire("db", 100 * HOUR)], now=100 * HOUR)
    [incident] = daemon.store.unresolved_incidents()
    notes = [e.text for e in daemon.store.timeline(incident.id) if e.kind == "known_error"]
    assert notes == [
        f"matches known error problem #{problem.id} (db/DbDown); workaround: restart pgbouncer"
    ]
    [page] = daemon.store.outbox(incident.id)
    assert f"Known error (problem #{problem.id}): restart pgbouncer" in page.body

    daemon.pipeline.alerts(
        [fire("db", 100 * HOUR).replace(status=AlertStatus.RESOLVED)], now=101 * HOUR
    )
    tracker.resolve(problem.id, "bob", now=110 * HOUR)
    outage(daemon, 120 * HOUR)
    reopened = daemon.store.problem(problem.id)
    assert reopened is not None and reopened.status == ProblemStatus.OPEN
    kinds = [e.kind for e in daemon.store.problem_timeline(problem.id)]
    assert kinds == ["opened", "known_error", "incident", "resolved", "incident", "reopened"]


def test_a_deploy_just_before_the_trouble_is_evidence(tmp_path):
    daemon, _ = shop(tmp_path)
    with daemon.store.transaction():
        daemon.store.add_change(Change(0, "db", "deploy", "schema migration", 900.0, "v1.4.2"))
    daemon.pipeline.alerts([fire("db", 1000)], now=1000)
    [incident] = daemon.store.unresolved_incidents()
    top = incident.root_causes[0]
    assert top.node == "db"
    assert any("deploy v1.4.2 on db" in line and "100 s before" in line for line in top.evidence)


def invoke(*args: str):
    return cli.invoke(app, list(args), env={"COLUMNS": "200"})


def test_problem_manager_cli_lists_shows_draws_and_works_problems(tmp_path):
    daemon, rules = shop(tmp_path)
    for day in range(3):
        outage(daemon, day * 24 * HOUR)
    state = ["--state", str(tmp_path)]
    listed = invoke("problems", *state)
    assert listed.exit_code == 0
    assert "db/DbDown" in listed.output and "1.0 d" in listed.output  # MTBF

    assert (
        invoke("incidents", "note", "2", "restarted the pool", "--by", "bo", *state).exit_code == 0
    )
    drawing = tmp_path / "problem.svg"
    shown = invoke("problems", "show", "1", "--graph", str(drawing), "--rules", str(rules), *state)
    assert shown.exit_code == 0, shown.output
    assert "occurrences 3" in shown.output and "#3 resolved" in shown.output
    assert "#2: restarted the pool" in shown.output and "1.0 h" in shown.output  # took
    assert "nothing db depends on is failing" in shown.output
    assert drawing.read_text().lstrip().startswith("<?xml")

    bad = invoke("problems", "known-error", "1", "--workaround", " ", *state)
    assert bad.exit_code == 1 and "needs a workaround" in bad.output
    marked = invoke("problems", "known-error", "1", "--workaround", "failover", *state)
    assert "known_error" in marked.output
    assert "is now resolved" in invoke("problems", "resolve", "1", *state).output
    again = invoke("problems", "resolve", "1", *state)
    assert again.exit_code == 1 and "already resolved" in again.output
    assert invoke("problems", "show", "99", *state).exit_code == 1


def test_a_problem_of_thousands_of_services_is_drawn_with_the_nearest_named(tmp_path):
    """A storm on a service 2,000 others depend on: the picture names the root and the
    services nearest it, folds the rest into "+N more" beside what they reach the root
    through, and is laid out in moments, not minutes."""
    dependants = [f"svc-{n:04}" for n in range(2000)]
    topology = Topology.from_services(
        [
            ServiceConfig(name="dns"),
            ServiceConfig(name="edge", depends_on=["svc-0000"]),
            *(ServiceConfig(name=n, depends_on=["dns"]) for n in dependants),
        ]
    )
    affected = ["dns", "edge", *dependants]
    picture = folded(affected_subgraph(topology, "dns", affected), "dns")
    assert len(picture) == DRAWN_AT_MOST + 2  # 40 named and two folds
    assert {"dns", "svc-0000", "svc-0038"} <= set(picture) and "svc-0039" not in picture
    # edge reaches dns through svc-0000, which is named: it folds beside it
    assert list(picture.successors("+1 more")) == ["svc-0000"]
    assert picture.nodes["+1,961 more"]["folded"] == 1961
    assert list(picture.successors("+1,961 more")) == ["dns"]
    drawing = tmp_path / "storm.svg"
    draw_subgraph(topology, "dns", affected, drawing)
    assert "+1,961 more" in drawing.read_text()


def test_change_cli_records_changes_the_ranking_reads(tmp_path):
    state = ["--state", str(tmp_path)]
    added = invoke("change", "add", "db", "--summary", "bump pool", "--version", "v2", *state)
    assert added.exit_code == 0 and "change 1 recorded: deploy on db" in added.output
    listed = invoke("change", "list", *state)
    assert "bump pool" in listed.output and "v2" in listed.output
    assert invoke("change", "list", "--since", "soon", *state).exit_code == 2
    unknown = invoke("change", "add", "db", "--summary", "x", "--kind", "whim", *state)
    assert unknown.exit_code == 2 and "whim" in unknown.output


def test_a_deploy_log_imported_from_a_file_is_a_suspect_and_reads_again_idempotently(tmp_path):
    daemon, _ = shop(tmp_path)
    log = tmp_path / "deploys.jsonl"
    log.write_text(
        "# written by the deploy pipeline\n"
        '{"service": "db", "summary": "schema migration", "version": "v1.4.2",'
        ' "at": "1970-01-01T00:15:00Z", "author": "ci"}\n'
        "\n"
        '{"service": "api", "kind": "config", "summary": "timeout 2s",'
        ' "at": "1970-01-01T00:10:00Z"}\n'
    )
    state = ["--state", str(tmp_path)]
    first = invoke("change", "import", str(log), *state)
    assert first.exit_code == 0, first.output
    assert "2 change(s) recorded" in first.output
    again = invoke("change", "import", str(log), *state)
    assert "0 change(s) recorded" in again.output and "2 already recorded" in again.output
    assert daemon.store.count("changes") == 2

    daemon.pipeline.alerts([fire("db", 1000)], now=1000)
    [incident] = daemon.store.unresolved_incidents()
    assert any("deploy v1.4.2 on db" in line for line in incident.root_causes[0].evidence)


def test_a_deploy_log_with_bad_lines_names_each_and_records_nothing(tmp_path):
    log = tmp_path / "deploys.jsonl"
    log.write_text(
        '{"service": "db", "summary": "fine", "at": "2026-01-01T00:00:00Z"}\n'
        '{"service": "db", "summary": "when?", "at": "yesterday"}\n'
        '{"service": "db", "kind": "whim", "summary": "x"}\n'
        "not json\n"
        '{"service": "db", "summary": "undated"}\n'
        "[1]\n"
    )
    result = invoke("change", "import", str(log), "--state", str(tmp_path))
    assert result.exit_code == 2
    lines = result.output.replace(f"{log}:", "\n@").split("\n@")[1:]
    assert [line.split(":")[0] for line in lines] == ["2", "3", "4", "5", "6"]
    assert "'yesterday' is not an RFC 3339 time" in lines[0]
    assert "kind" in lines[1] and "not a JSON object" in lines[2]
    assert "needs its time" in lines[3]
    assert "line: Input should be an object" in lines[4]
    assert "Traceback" not in result.output
    missing = invoke("change", "import", str(tmp_path / "none.jsonl"), "--state", str(tmp_path))
    assert missing.exit_code == 2 and "cannot read" in missing.output


def test_a_problem_recurring_for_long_shows_its_latest_incidents(tmp_path, monkeypatch):
    """A year of recurrences is thousands of incidents: ``problems show`` lists the latest
    and what happened last, and says how much more ``--all`` shows."""
    daemon, _ = shop(tmp_path)
    for day in range(4):
        outage(daemon, day * 24 * HOUR)
    monkeypatch.setattr("sentinel.cli.problems.SHOWN", 2)
    state = ["--state", str(tmp_path)]
    shown = invoke("problems", "show", "1", *state).output
    assert "occurrences 4" in shown and "the latest 2 of 4; --all for every one" in shown
    assert "#4 resolved" in shown and "#2 opened" not in shown
    every = invoke("problems", "show", "1", "--all", *state).output
    assert "#1 opened" in every and "#4 resolved" in every and "--all" not in every


def test_a_recurrence_costs_a_long_problem_what_it_costs_a_short_one(tmp_path):
    """A problem that recurs for years links thousands of incidents: folding one more in,
    and looking up the known error each new incident may match, read that incident and
    the problem's own row, not every incident it ever linked."""
    daemon, _ = shop(tmp_path)
    for day in range(3):
        outage(daemon, day * 24 * HOUR)
    [problem] = daemon.store.problems()
    store, tracker = daemon.store, daemon.desk.problems
    assert tracker is not None
    tracker.mark_known_error(problem.id, "restart pgbouncer", "alice", now=80 * HOUR)
    cause = (RootCause("db", 1.0, (), "DbDown"),)

    def recurrence(at: float) -> Incident:
        draft = Incident(0, "t", IncidentStatus.RESOLVED, "P3", 3, 3, ("db",), cause, "d", at, at)
        with store.transaction():
            return store.incident(store.add_incident(draft))

    def costs(at: float) -> tuple[int, int]:
        incident = recurrence(at)
        return (
            vm_steps(store, lambda: tracker.incident_resolved(incident, at)),
            vm_steps(store, lambda: tracker.known_error(cause)),
        )

    short = costs(100 * HOUR)
    with store.transaction():  # two thousand recurrences more
        store.link_problem(problem.id, [recurrence(200 * HOUR + n) for n in range(2000)])
    long = costs(300 * HOUR)
    assert store.problem(problem.id).occurrences == 2005
    assert long[0] <= short[0] + 2 and long[1] <= short[1] + 2, (short, long)


def test_problem_read_api(tmp_path):
    from tests.helpers.api import run_client

    daemon, _ = shop(tmp_path)
    for day in range(3):
        outage(daemon, day * 24 * HOUR)

    async def requests(client):
        one = await client.get("/api/v1/problems/1")
        listed = await client.get("/api/v1/problems")
        missing = await client.get("/api/v1/problems/99")
        bad = await client.get("/api/v1/problems/x")
        return await one.json(), await listed.json(), missing.status, bad.status

    one, listed, missing, bad = run_client(daemon, requests)
    assert one["problem"]["signature"] == "db/DbDown" and one["problem"]["mtbf"] == 24 * HOUR
    assert [i["id"] for i in one["incidents"]] == [1, 2, 3] and one["incidents_total"] == 3
    assert one["incident_ids"] == [1, 2, 3] and "incident_ids" not in listed["problems"][0]
    assert [e["kind"] for e in one["timeline"]] == ["opened"] and one["timeline_total"] == 1
    assert listed["problems"][0]["occurrences"] == 3
    assert (missing, bad) == (404, 400)


def test_merging_a_split_incident_ranks_the_whole_and_files_only_the_target(tmp_path):
    """Correlation opened two incidents for one outage (the API's alert came first): the
    problem manager merges the database's into the API's. The target takes both alerts and
    names the database; the merged incident resolves as merged, telling whoever it paged,
    and is filed under no signature: when the outage ends only the target recurs."""
    daemon, rules = shop(tmp_path)
    correlator, desk = daemon.pipeline.correlator, daemon.desk
    opened = []
    for alert, at in ((fire("api", 0, "ApiErrors"), 1.0), (fire("db", 30), 31.0)):
        node = alert.labels["service"]
        causes = correlator.rank([alert])
        opened.append(desk.open_incident(alert, [node], [2], causes, "default", at, node))
    api, db = (i.id for i in opened)
    state = ["--state", str(tmp_path)]

    merged = invoke(
        "incidents", "merge", str(api), str(db), "--by", "alice", "--reason", "one outage",
        "--rules", str(rules), *state,
    )  # fmt: skip
    assert merged.exit_code == 0, merged.output
    assert f"#{db} merged into incident {api}" in merged.output
    target, source = daemon.store.incident(api), daemon.store.incident(db)
    assert target.services == ("api", "db") and target.root_causes[0].node == "db"
    assert daemon.store.alert_counts([api, db]) == {api: (2, 2)}
    assert source.status == "resolved"
    said = [(e.kind, e.text, e.actor) for e in daemon.store.timeline(db)]
    assert ("resolved", f"merged into #{api}: one outage", "alice") in said
    assert any(r.event == "resolved" for r in daemon.store.outbox(db))  # its page is told
    assert ("merged", f"#{db} (1 alert): one outage", "alice") in [
        (e.kind, e.text, e.actor) for e in daemon.store.timeline(api)
    ]

    again = invoke("incidents", "merge", str(api), str(db), "--rules", str(rules), *state)
    assert again.exit_code == 1 and f"incident {db} is resolved, not open" in again.output
    unknown = invoke("incidents", "merge", str(api), "99", "--rules", str(rules), *state)
    assert unknown.exit_code == 1 and "no incident 99" in unknown.output

    later = fire("api", 60, "ApiLatency")  # the daemon places new alerts in the target
    daemon.pipeline.alerts([later], now=61)
    assert daemon.store.alert_counts([api]) == {api: (3, 3)}
    for alert in (fire("api", 0, "ApiErrors"), fire("db", 30), later):
        daemon.pipeline.alerts([alert.replace(status=AlertStatus.RESOLVED)], now=HOUR)
    assert daemon.store.incident(api).status == "resolved"
    filed = daemon.store.resolved_with_signature("db/DbDown", since=0)
    assert [i.id for i in filed] == [api]


def test_an_incident_merged_away_is_no_recurrence_of_the_known_error_it_matched(tmp_path):
    """db's incident matches the known error on opening and is counted; the problem
    manager merges it into the API's, which then names db and is counted instead. The
    outage is one occurrence, through the merge and when it ends."""
    daemon, rules = shop(tmp_path)
    for day in range(3):
        outage(daemon, day * 24 * HOUR)
    [problem] = daemon.store.problems()
    store, correlator, desk = daemon.store, daemon.pipeline.correlator, daemon.desk
    assert desk.problems is not None
    desk.problems.mark_known_error(problem.id, "restart pgbouncer", "alice", now=80 * HOUR)
    at, opened = 100 * HOUR, []
    for alert in (fire("api", at, "ApiErrors"), fire("db", at + 30)):
        node = alert.labels["service"]
        causes = correlator.rank([alert])
        opened.append(desk.open_incident(alert, [node], [2], causes, "default", at + 31, node))
    api, db = (i.id for i in opened)
    assert store.is_linked(problem.id, db) and store.problem(problem.id).occurrences == 4

    state = ["--rules", str(rules), "--state", str(tmp_path)]
    assert invoke("incidents", "merge", str(api), str(db), *state).exit_code == 0
    assert store.problem_incident_ids(problem.id) == [1, 2, 3, api]
    assert store.problem(problem.id).occurrences == 4
    said = [e.text for e in store.problem_timeline(problem.id)]
    assert said[-1] == f"incident #{db} merged into #{api}"

    for alert in (fire("api", at, "ApiErrors"), fire("db", at + 30)):
        daemon.pipeline.alerts([alert.replace(status=AlertStatus.RESOLVED)], now=at + HOUR)
    ended = store.problem(problem.id)
    assert store.incident(api).status == "resolved"
    assert ended.occurrences == 4 and ended.last_seen == at + 31
    assert ended.services == ("api", "db")


def test_splitting_off_a_service_correlation_joined_opens_its_own_incident(tmp_path):
    """db fails, then cache, a neighbour sharing a caller: the daemon joins them. They were
    two troubles: cache's alerts split off into an incident of their own, which opens,
    pages and names cache; db's keeps db. Each then resolves on its own alerts."""
    rules = write_rules(
        tmp_path / "rules",
        services=[
            {"name": "api", "depends_on": ["db", "cache"]},
            {"name": "db", "tier": 1},
            {"name": "cache", "tier": 3},
        ],
        escalation_policies=[
            {"name": "default", "levels": [{"notify": ["json://127.0.0.1:9/page"]}]}
        ],
    )
    daemon = make_daemon(tmp_path, rules, Clock(0))
    db, cache = fire("db", 0), fire("cache", 60, "CacheDown")
    daemon.pipeline.alerts([db], now=1)
    daemon.pipeline.alerts([cache], now=61)
    [joined] = daemon.store.unresolved_incidents()
    assert joined.services == ("cache", "db")
    state = ["--rules", str(rules), "--state", str(tmp_path)]

    absent = invoke("incidents", "split", str(joined.id), "api", *state)
    assert absent.exit_code == 1 and f"incident {joined.id} has no alerts on api" in absent.output
    whole = invoke("incidents", "split", str(joined.id), "cache", "db", *state)
    assert whole.exit_code == 1 and "nothing would remain" in whole.output

    split = invoke("incidents", "split", str(joined.id), "cache", "--reason", "unrelated", *state)
    assert split.exit_code == 0, split.output
    [new] = [i for i in daemon.store.unresolved_incidents() if i.id != joined.id]
    kept = daemon.store.incident(joined.id)
    assert new.services == ("cache",) and new.root_causes[0].node == "cache"
    assert kept.services == ("db",) and kept.root_causes[0].node == "db"
    assert new.title == "cache broken" and new.began_at == 60
    assert (new.impact, kept.impact) == (3, 1)  # each by the tiers it holds
    assert [r.event for r in daemon.store.outbox(new.id)] == ["opened"]  # it pages
    assert daemon.store.alert_counts([joined.id, new.id]) == {joined.id: (1, 1), new.id: (1, 1)}
    said = [(e.kind, e.text) for e in daemon.store.timeline(joined.id)]
    assert ("split", f"cache (1 alert) to #{new.id}: unrelated") in said
    assert ("split", f"from #{joined.id}: unrelated") in [
        (e.kind, e.text) for e in daemon.store.timeline(new.id)
    ]

    daemon.pipeline.alerts([cache.replace(status=AlertStatus.RESOLVED)], now=HOUR)
    assert daemon.store.incident(new.id).status == "resolved"
    assert daemon.store.incident(joined.id).status == "open"

    # The same two fail together again: the daemon now keeps them apart.
    daemon.pipeline.alerts([db.replace(status=AlertStatus.RESOLVED)], now=HOUR)
    daemon.pipeline.alerts([fire("db", 2 * HOUR)], now=2 * HOUR)
    daemon.pipeline.alerts([fire("cache", 2 * HOUR + 60, "CacheDown")], now=2 * HOUR + 61)
    again = sorted(i.services for i in daemon.store.unresolved_incidents())
    assert again == [("cache",), ("db",)]


def test_a_merge_teaches_the_daemon_to_join_those_services_next_time(tmp_path):
    """web and billing share nothing in the topology, yet fail together (a shared network
    the topology does not know): the operator merges their incidents once, and the next
    time billing fails soon after web, it joins web's incident."""
    rules = write_rules(tmp_path / "rules", services=[{"name": "web"}, {"name": "billing"}])
    daemon = make_daemon(tmp_path, rules, Clock(0))
    web, billing = fire("web", 0, "WebDown"), fire("billing", 30, "BillingDown")
    for alert in (web, billing):
        daemon.pipeline.alerts([alert], now=alert.starts_at + 1)
    first, second = sorted(i.id for i in daemon.store.unresolved_incidents())
    state = ["--rules", str(rules), "--state", str(tmp_path)]
    assert invoke("incidents", "merge", str(first), str(second), *state).exit_code == 0
    for alert in (web, billing):
        daemon.pipeline.alerts([alert.replace(status=AlertStatus.RESOLVED)], now=HOUR)
    assert daemon.store.unresolved_incidents() == []

    for alert in (fire("web", 2 * HOUR, "WebDown"), fire("billing", 2 * HOUR + 30, "BillingDown")):
        daemon.pipeline.alerts([alert], now=alert.starts_at + 1)
    [together] = daemon.store.unresolved_incidents()
    assert together.services == ("billing", "web")
    hints = [(h.a, h.b, h.together) for h in daemon.store.grouping_hints()]
    assert ("billing", "web", True) in hints
    store_only = state[2:]
    listed = invoke("topology", "hints", *store_only).output
    assert "billing, web" in listed and "together" in listed
    assert invoke("topology", "forget", "web", "billing", *store_only).exit_code == 0
    forgotten = invoke("topology", "forget", "web", "billing", *store_only)
    assert forgotten.exit_code == 1 and "nothing learned about web and billing" in forgotten.output
    assert "no regroupings yet" in invoke("topology", "hints", *store_only).output


def test_an_incident_shows_how_earlier_ones_with_its_root_cause_were_worked(tmp_path):
    daemon, _ = shop(tmp_path)
    state = ["--state", str(tmp_path)]
    first = outage(daemon, 0)
    noted = invoke(
        "incidents", "note", str(first), "pool exhausted: raised max_conn", "--by", "al", *state
    )
    assert noted.exit_code == 0, noted.output
    second = outage(daemon, 24 * HOUR)
    outage(daemon, 30 * HOUR, service="api", name="ApiDown")  # another root cause
    daemon.pipeline.alerts([fire("db", 48 * HOUR)], now=48 * HOUR)
    [current] = daemon.store.unresolved_incidents()

    shown = invoke("incidents", "show", str(current.id), *state)
    assert shown.exit_code == 0, shown.output
    seen = shown.output.split("seen before: ")[1].split("Alerts")[0]
    assert seen.startswith("db/DbDown in 2 earlier incident(s)\n")
    assert "problem #" not in seen  # two recurrences are not a problem record yet
    assert seen.index(f"#{second} opened") < seen.index(f"#{first} opened")
    assert "note by al: pool exhausted: raised max_conn" in seen
    assert seen.count("resolved by sentinel: all alerts resolved") == 2
    assert "ApiDown" not in seen and "resolved after 1.0 h" in seen
    # Whoever is paged reads it too: how often, and what a person last wrote.
    [page] = [r for r in daemon.store.outbox(current.id) if r.event == "opened"]
    assert (
        f"Seen before: 2 earlier incident(s) with root cause db/DbDown (latest #{second}); "
        f"al on #{first}: pool exhausted: raised max_conn"
    ) in page.body
    # The first incident has nothing before it.
    assert "seen before" not in invoke("incidents", "show", str(first), *state).output

    async def requests(client):
        return [
            await (await client.get(f"/api/v1/incidents/{n}")).json() for n in (current.id, first)
        ]

    api, api_first = run_client(daemon, requests)
    assert api_first["seen_before"] is None
    past = api["seen_before"]
    assert (past["signature"], past["total"], past["problem"]) == ("db/DbDown", 2, None)
    assert [e["incident"]["id"] for e in past["earlier"]] == [second, first]
    assert [w["kind"] for w in past["earlier"][1]["work"]] == ["resolved", "note"]

    empty = invoke("incidents", "note", str(current.id), "  ", *state)
    assert empty.exit_code == 1 and "needs some text" in empty.output
    assert invoke("close", str(first), *state).exit_code == 0
    closed = invoke("incidents", "note", str(first), "late", *state)
    assert closed.exit_code == 1 and "is closed" in closed.output
    assert invoke("incidents", "note", "99", "x", *state).exit_code == 1
