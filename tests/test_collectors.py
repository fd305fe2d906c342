"""Collectors against real things: this machine (psutil) and HTTP servers on loopback."""

from __future__ import annotations

import asyncio
import socket

import pytest

from sentinel.collectors import collectors, poll
from sentinel.collectors.host import HostConfig
from sentinel.collectors.http import HttpConfig
from sentinel.model import SampleBatch


def values(batch: SampleBatch) -> dict[str, float]:
    return {s.name: float(v) for s, v in zip(batch.series, batch.values, strict=True)}


def poll_once(kind: str, **config):
    collector = collectors.get(kind)(
        collectors.get(kind).Config.model_validate({"name": "t", "kind": kind, **config})
    )

    async def go():
        try:
            return await poll(collector, now=1000.0)
        finally:
            await collector.close()

    return asyncio.run(go())


def test_host_reads_this_machine():
    result = poll_once("host", processes=["surely-not-running-xyz"], labels={"service": "system"})
    got = values(result.batch)
    assert result.failure is None and got["up"] == 1.0
    assert 0 <= got["host_memory_used_percent"] <= 100
    assert got["host_processes"] > 1
    assert got["host_process_up"] == 0.0
    series = {s.name: s for s in result.batch.series}
    assert series["up"].label("service") == "system" and series["up"].label("host")
    assert {"host_filesystem_used_percent", "host_load_per_cpu"} <= set(got)


def test_http_healthy_target(target):
    result = poll_once("http", url=target.url, body_regex="^ok$")
    got = values(result.batch)
    assert result.failure is None
    assert (got["up"], got["http_status_code"], got["http_body_match"]) == (1.0, 200.0, 1.0)
    assert got["http_duration_seconds"] > 0


def test_http_error_status_is_down_with_reason(target):
    target.healthy = False
    result = poll_once("http", url=target.url)
    assert result.failure == "HTTP status 503"
    assert values(result.batch)["up"] == 0.0 and values(result.batch)["http_status_code"] == 503


def test_http_body_mismatch_is_down(target):
    result = poll_once("http", url=target.url, body_regex="healthy")
    assert result.failure == "body does not match 'healthy'"


def test_refused_connection_is_down_not_a_crash():
    with socket.socket() as spare:
        spare.bind(("127.0.0.1", 0))
        port = spare.getsockname()[1]
    result = poll_once("http", url=f"http://127.0.0.1:{port}/")
    assert values(result.batch)["up"] == 0.0
    assert result.failure is not None and result.failure.startswith("request failed")


def test_hanging_target_times_out():
    with socket.socket() as silent:  # accepts connections, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        port = silent.getsockname()[1]
        result = poll_once("http", url=f"http://127.0.0.1:{port}/", timeout="300ms")
    assert values(result.batch)["up"] == 0.0
    assert result.failure == "timed out after 0.3s"


@pytest.mark.parametrize("url", ["ftp://x", "localhost:80", ""])
def test_http_config_rejects_non_http_urls(url):
    with pytest.raises(ValueError, match="http"):
        HttpConfig.model_validate({"name": "t", "url": url})


def test_every_collector_kind_declares_a_strict_schema():
    for kind, plugin in collectors:
        assert plugin.Config.model_fields["kind"].default == kind
        with pytest.raises(ValueError, match="extra"):
            plugin.Config.model_validate({"name": "t", "kind": kind, "url": "http://x", "zz": 1})
    assert HostConfig.model_validate({"name": "t"}).interval == 15.0
