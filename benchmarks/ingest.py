"""Alert ingestion: sentinel vs a real Alertmanager, same stream, same machine, same run.

    python benchmarks/ingest.py [--alerts 10000] [--rounds 3] [--batch 64] [--senders 4]

The stream is what Prometheus sends: every alert re-sent each evaluation round, in batches
of 64 (Prometheus's default), to ``POST /api/v2/alerts``. sentinel runs with correlation on
(a 100-service topology) and its real store; Alertmanager 0.25 from Debian with a receiver
that sends nothing. Prints accepted alerts/s and request latency for each, and the ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import numpy as np
import yaml
from loopback import free_port, wait_http
from rich.console import Console
from rich.table import Table

TOKEN = "benchmark-token-0123456789abcdef"
SERVICES = 100


def stream(count: int) -> list[dict]:
    """``count`` distinct alerts over 100 services: 10 rules × N instances each."""
    now = datetime.now(UTC)
    starts = (now - timedelta(minutes=1)).isoformat().replace("+00:00", "Z")
    ends = (now + timedelta(hours=1)).isoformat().replace("+00:00", "Z")
    alerts = []
    for n in range(count):
        service, rule, instance = n % SERVICES, (n // SERVICES) % 10, n // (SERVICES * 10)
        alerts.append(
            {
                "labels": {
                    "alertname": f"Rule{rule}",
                    "service": f"svc-{service}",
                    "instance": f"host-{instance}:9100",
                    "job": "node",
                    "severity": "critical" if rule == 0 else "warning",
                },
                "annotations": {"summary": f"Rule{rule} on svc-{service} host-{instance}"},
                "startsAt": starts,
                "endsAt": ends,
                "generatorURL": f"http://prometheus:9090/graph?g0.expr=rule{rule}",
            }
        )
    return alerts


def sentinel_rules(directory: Path, port: int) -> None:
    services = [{"name": "svc-0", "tier": 1}] + [
        {"name": f"svc-{k}", "tier": 1 + k % 3, "depends_on": [f"svc-{(k - 1) // 3}"]}
        for k in range(1, SERVICES)
    ]
    directory.mkdir(parents=True)
    (directory / "sentinel.yaml").write_text(
        yaml.safe_dump(
            {
                "server": {"listen": f"127.0.0.1:{port}", "token": TOKEN, "max_body": 16 << 20},
                "services": services,
            }
        )
    )


def alertmanager_config(path: Path) -> None:
    path.write_text(
        yaml.safe_dump(
            {
                "route": {"receiver": "null", "group_by": ["alertname", "service"]},
                "receivers": [{"name": "null"}],
            }
        )
    )


async def blast(url: str, alerts: list[dict], rounds: int, batch: int, senders: int):
    """Send every alert once per round; round 1 brings new alerts, later rounds re-sends."""
    payloads = [json.dumps(alerts[i : i + batch]).encode() for i in range(0, len(alerts), batch)]
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    latencies: list[float] = []
    failures = 0
    elapsed: list[float] = []

    async def sender(session: aiohttp.ClientSession, queue: asyncio.Queue[bytes]) -> None:
        nonlocal failures
        while not queue.empty():
            payload = queue.get_nowait()
            started = time.perf_counter()
            async with session.post(url, data=payload, headers=headers) as response:
                await response.read()
                failures += response.status != 200
            latencies.append(time.perf_counter() - started)

    timeout = aiohttp.ClientTimeout(total=600)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        for _ in range(rounds):
            queue: asyncio.Queue[bytes] = asyncio.Queue()
            for payload in payloads:
                queue.put_nowait(payload)
            started = time.perf_counter()
            await asyncio.gather(*(sender(session, queue) for _ in range(senders)))
            elapsed.append(time.perf_counter() - started)
    lat = np.array(latencies)
    resends = sum(elapsed[1:])
    return {
        "alerts_per_s": len(alerts) * rounds / sum(elapsed),
        "new_alerts_per_s": len(alerts) / elapsed[0],
        "resent_alerts_per_s": len(alerts) * (rounds - 1) / resends if resends else float("nan"),
        "seconds": sum(elapsed),
        "p50_ms": 1000 * float(np.percentile(lat, 50)),
        "p99_ms": 1000 * float(np.percentile(lat, 99)),
        "failed_requests": failures,
    }


def count_json(url: str, key: str | None = None) -> int:
    with urllib.request.urlopen(url, timeout=60) as response:
        data = json.load(response)
    return len(data[key] if key else data)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--alerts", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--senders", type=int, default=4)
    args = parser.parse_args()
    binary = shutil.which("prometheus-alertmanager")
    if not binary:
        sys.exit("prometheus-alertmanager not found: apt-get install prometheus-alertmanager")
    alerts = stream(args.alerts)
    console = Console()
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        port = free_port()
        sentinel_rules(work / "rules", port)
        log = (work / "sentinel.log").open("wb")
        sentinel = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "sentinel",
                "run",
                "--rules",
                str(work / "rules"),
                "--state",
                str(work / "state"),
                "--log-level",
                "warning",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=Path(__file__).resolve().parent.parent,
        )
        am_port = free_port()
        alertmanager_config(work / "am.yml")
        alertmanager = subprocess.Popen(
            [
                binary,
                f"--config.file={work / 'am.yml'}",
                f"--storage.path={work / 'am'}",
                f"--web.listen-address=127.0.0.1:{am_port}",
                "--cluster.listen-address=",
                "--log.level=warn",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_http(f"http://127.0.0.1:{port}/healthz")
            wait_http(f"http://127.0.0.1:{am_port}/-/ready")
            for name, base in (
                ("Alertmanager 0.25", f"http://127.0.0.1:{am_port}"),
                ("sentinel", f"http://127.0.0.1:{port}"),
            ):
                console.print(f"posting {args.alerts} alerts × {args.rounds} rounds to {name}…")
                results[name] = asyncio.run(
                    blast(f"{base}/api/v2/alerts", alerts, args.rounds, args.batch, args.senders)
                )
                results[name]["alerts held"] = count_json(f"{base}/api/v2/alerts")
            incidents = count_json(
                f"http://127.0.0.1:{port}/api/v1/incidents?status=open&limit=500", "incidents"
            )
        finally:
            for proc in (sentinel, alertmanager):
                proc.terminate()
                proc.wait()
    table = Table(
        title=f"{args.alerts} distinct alerts, {args.rounds} rounds, batches of "
        f"{args.batch}, {args.senders} concurrent senders"
    )
    names = list(results)
    table.add_column("figure")
    for name in names:
        table.add_column(name, justify="right")
    for key in (
        "alerts_per_s",
        "new_alerts_per_s",
        "resent_alerts_per_s",
        "p50_ms",
        "p99_ms",
        "seconds",
        "failed_requests",
        "alerts held",
    ):
        table.add_row(key.replace("_", " "), *(f"{results[n][key]:,.1f}" for n in names))
    console.print(table)
    ours, theirs = results["sentinel"], results["Alertmanager 0.25"]
    for key, what in (
        ("alerts_per_s", "overall"),
        ("new_alerts_per_s", "new alerts"),
        ("resent_alerts_per_s", "re-sent alerts"),
    ):
        console.print(f"sentinel / Alertmanager throughput, {what}: {ours[key] / theirs[key]:.2f}×")
    console.print(
        f"sentinel grouped the {args.alerts} alerts into {incidents} open incidents "
        "(correlation on)"
    )


if __name__ == "__main__":
    main()
