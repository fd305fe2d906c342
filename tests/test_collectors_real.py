"""Each collector kind against the real component it speaks to, on 127.0.0.1."""

from __future__ import annotations

import asyncio
import os
import socket
import threading

import pytest

from tests.helpers import processes
from tests.helpers.servers import StaticServer, TlsTargetServer
from tests.helpers.wait import wait_until
from tests.test_collectors import poll_once, values


def series_of(batch, name: str) -> list[tuple[dict[str, str], float]]:
    return [
        (s.label_map, float(v))
        for s, v in zip(batch.series, batch.values, strict=True)
        if s.name == name
    ]


@pytest.fixture(scope="module")
def node_exporter(tmp_path_factory):
    service, url = processes.node_exporter(tmp_path_factory.mktemp("node"))
    with service:
        yield url


@pytest.fixture(scope="module")
def prometheus_api(tmp_path_factory, node_exporter):
    host_port = node_exporter.split("/")[2]
    service, base = processes.prometheus(tmp_path_factory.mktemp("prom"), host_port)
    with service:
        query = [{"name": "node_up", "query": 'up{job="node"} == 1'}]
        wait_until(
            lambda: series_of(poll_once("promql", url=base, queries=query).batch, "node_up"),
            timeout=60,
            what="prometheus to scrape node_exporter",
        )
        yield base


@pytest.fixture
def listener():
    """A TCP server that greets every connection with a banner."""
    server = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve():
        server.settimeout(0.1)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            with conn:
                conn.sendall(b"220 sentinel-test ready\r\n")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join()
    server.close()


def closed_port() -> int:
    with socket.socket() as spare:
        spare.bind(("127.0.0.1", 0))
        return spare.getsockname()[1]


# -- prometheus: a real node_exporter -------------------------------------------------------


def test_prometheus_scrapes_node_exporter(node_exporter):
    result = poll_once("prometheus", url=node_exporter, labels={"service": "system"})
    assert result.failure is None
    names = {s.name for s in result.batch.series}
    assert len(result.batch) > 200
    assert {"node_cpu_seconds_total", "node_memory_MemAvailable_bytes", "up"} <= names


def test_prometheus_filters_by_name_and_label(node_exporter):
    result = poll_once(
        "prometheus",
        url=node_exporter,
        include=["node_cpu_seconds_total"],
        match_labels={"mode": "idle"},
    )
    cpu = series_of(result.batch, "node_cpu_seconds_total")
    assert cpu and all(labels["mode"] == "idle" for labels, _ in cpu)
    assert {s.name for s in result.batch.series} == {
        "node_cpu_seconds_total",
        "up",
        "scrape_duration_seconds",
    }


def test_malformed_exposition_is_down_with_reason():
    with StaticServer("node_load1 not-a-number\n") as server:
        result = poll_once("prometheus", url=server.url)
    assert values(result.batch)["up"] == 0.0
    assert result.failure_kind == "parse" and "malformed exposition" in result.failure


# -- promql: a real Prometheus scraping that node_exporter ----------------------------------


def test_promql_reads_vectors_and_scalars(prometheus_api):
    result = poll_once(
        "promql",
        url=prometheus_api,
        queries=[
            {"name": "node_up", "query": 'up{job="node"}'},
            {"name": "cpus", "query": "count(count by (cpu) (node_cpu_seconds_total))"},
            {"name": "answer", "query": "scalar(vector(42))"},
        ],
    )
    assert result.failure is None
    [(labels, value)] = series_of(result.batch, "node_up")
    assert value == 1.0 and labels["job"] == "node" and "instance" in labels
    assert series_of(result.batch, "cpus")[0][1] >= 1
    assert series_of(result.batch, "answer")[0][1] == 42.0


def test_promql_bad_query_is_down_with_prometheus_reason(prometheus_api):
    result = poll_once("promql", url=prometheus_api, queries=[{"name": "broken", "query": "sum(("}])
    assert values(result.batch)["up"] == 0.0
    assert result.failure.startswith("broken: ") and "parse error" in result.failure


# -- nagios: Debian's monitoring plugins ----------------------------------------------------


def test_check_tcp_ok_with_perfdata_in_seconds(listener):
    result = poll_once(
        "nagios", command=[processes.plugin("check_tcp"), "-H", "127.0.0.1", "-p", str(listener)]
    )
    assert result.failure is None
    assert values(result.batch)["nagios_state"] == 0.0
    [(labels, seconds)] = series_of(result.batch, "nagios_perfdata")
    assert labels == {"label": "time", "uom": "seconds", "target": "t"} and 0 <= seconds < 5


def test_check_tcp_critical_takes_target_down():
    result = poll_once(
        "nagios",
        command=[processes.plugin("check_tcp"), "-H", "127.0.0.1", "-p", str(closed_port())],
    )
    assert values(result.batch)["nagios_state"] == 2.0
    assert values(result.batch)["up"] == 0.0 and result.failure.startswith("CRITICAL: ")


def test_check_load_reports_load_with_thresholds():
    result = poll_once(
        "nagios", command=[processes.plugin("check_load"), "-w", "100,100,100", "-c", "200,200,200"]
    )
    assert result.failure is None
    labels = {lab["label"] for lab, _ in series_of(result.batch, "nagios_perfdata")}
    assert {"load1", "load5", "load15"} <= labels
    assert {v for _, v in series_of(result.batch, "nagios_perfdata_critical")} == {200.0}


def test_check_http_against_local_server(target):
    result = poll_once(
        "nagios",
        command=[
            processes.plugin("check_http"),
            "-H",
            "127.0.0.1",
            "-p",
            str(target.port),
            "-u",
            "/health",
        ],
    )
    assert result.failure is None and values(result.batch)["nagios_state"] == 0.0


def test_hanging_plugin_is_killed_at_the_timeout(tmp_path):
    pid_file = tmp_path / "pid"
    script = f"echo $$ > {pid_file}; exec sleep 30"
    result = poll_once("nagios", command=["/bin/sh", "-c", script], timeout="500ms")
    assert result.failure == "timed out after 0.5s"
    with pytest.raises(ProcessLookupError):
        os.kill(int(pid_file.read_text()), 0)


@pytest.mark.parametrize(
    ("command", "reason"),
    [
        (["/bin/sh", "-c", "exit 137"], "plugin exit 137 (signal 9)"),
        (["/bin/sh", "-c", "kill -9 $$"], "plugin killed by signal 9"),
        (["/bin/echo", "OK | load=oops;;"], "unparseable perfdata value 'load=oops;;'"),
        (["/bin/echo", "OK | =5 x"], "unparseable perfdata near '=5 x'"),
        (
            ["/nonexistent/check_thing"],
            "cannot run /nonexistent/check_thing: No such file or directory",
        ),
    ],
)
def test_misbehaving_plugin_is_down_with_reason(command, reason):
    result = poll_once("nagios", command=command)
    assert values(result.batch)["up"] == 0.0
    assert result.failure == reason


# -- dns: a real resolver (dnsmasq) ---------------------------------------------------------


@pytest.fixture(scope="module")
def resolver_port(tmp_path_factory):
    service, port = processes.dnsmasq(
        tmp_path_factory.mktemp("dns"), {"db.sentinel.test": "127.0.0.9"}
    )
    with service:
        yield port


def test_dns_answer_matches(resolver_port):
    result = poll_once(
        "dns",
        query="db.sentinel.test",
        server="127.0.0.1",
        port=resolver_port,
        expect=["127.0.0.9"],
    )
    assert result.failure is None
    got = values(result.batch)
    assert got["dns_answer_match"] == 1.0 and got["dns_answers"] == 1.0
    assert got["dns_lookup_seconds"] > 0


def test_dns_wrong_answer_is_down(resolver_port):
    result = poll_once(
        "dns",
        query="db.sentinel.test",
        server="127.0.0.1",
        port=resolver_port,
        expect=["127.0.0.10"],
    )
    assert result.failure == "answer ['127.0.0.9'] lacks ['127.0.0.10']"


def test_dns_unknown_name_is_down(resolver_port):
    result = poll_once("dns", query="nope.invalid", server="127.0.0.1", port=resolver_port)
    assert values(result.batch)["up"] == 0.0 and result.failure_kind in ("answer", "connect")


# -- tcp and tls ----------------------------------------------------------------------------


def test_tcp_connect_and_banner(listener):
    result = poll_once("tcp", host="127.0.0.1", port=listener, expect="^220 ")
    got = values(result.batch)
    assert (
        result.failure is None and got["tcp_expect_match"] == 1.0 and got["tcp_connect_seconds"] > 0
    )


def test_tcp_refused_is_down():
    result = poll_once("tcp", host="127.0.0.1", port=closed_port())
    assert values(result.batch)["up"] == 0.0 and result.failure.startswith("connect failed")


def test_https_reports_certificate_days_left(tmp_path):
    with TlsTargetServer(tmp_path, days=30) as server:
        unverified = poll_once("http", url=server.url, verify_tls=False)
        verified = poll_once("http", url=server.url)
    assert unverified.failure is None
    assert 29 < values(unverified.batch)["http_tls_cert_days_left"] <= 30
    assert verified.failure_kind == "connect" and "certificate" in verified.failure.lower()


# -- replay ---------------------------------------------------------------------------------


def test_replay_plays_rows_on_the_recorded_clock(tmp_path):
    from sentinel.collectors.replay import ReplayCollector, ReplayConfig

    recording = tmp_path / "cpu.csv"
    recording.write_text(
        "timestamp,value\n2024-01-01 00:00:00,1\n2024-01-01 00:00:10,2\n1704070800,3\n"
    )
    clock = [1000.0]
    config = ReplayConfig.model_validate(
        {"name": "r", "path": str(recording), "metric": "cpu", "speed": 10}
    )
    replay = ReplayCollector(config, clock=lambda: clock[0])

    def played():
        reading = asyncio.run(replay.read())
        return [(ts, value) for _, _, value, ts in reading.samples]

    assert played() == [(1000.0, 1.0)]
    clock[0] = 1000.5
    assert played() == []  # row 2 is due 10 s / speed 10 = 1 s after the start
    clock[0] = 1400.0
    assert played() == [(1001.0, 2.0), (1360.0, 3.0)]


def test_replay_rejects_a_missing_file(tmp_path):
    from sentinel.collectors.replay import ReplayConfig

    with pytest.raises(ValueError, match="is not a file"):
        ReplayConfig.model_validate({"name": "r", "path": str(tmp_path / "none.csv")})
