"""Alert ingestion: sentinel vs a real Alertmanager, same stream, same machine, same run.

    python benchmarks/ingest.py [--alerts 10000] [--rounds 3] [--batch 64] [--senders 4]
                                [--trials 5]

The stream is what Prometheus sends: every alert re-sent each evaluation round, in batches
of 64 (Prometheus's default), to ``POST /api/v2/alerts``. sentinel runs with correlation on
(a 100-service topology) and its real store; Alertmanager 0.25 from Debian with a receiver
that sends nothing. Each trial starts both afresh, in alternating order; prints the median
(and range) of accepted alerts/s and request latency for each, and the ratio of medians.
The server's own CPU time per accepted alert (user + system, all its threads) and the cores
it kept busy are printed too: Alertmanager spreads its work over every core, sentinel's
loop runs on one.
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
import psutil
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


def start_sentinel(work: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    sentinel_rules(work / "rules", port)
    log = (work / "sentinel.log").open("wb")
    command = [sys.executable, "-m", "sentinel", "run", "--log-level", "warning"]
    command += ["--rules", str(work / "rules"), "--state", str(work / "state")]
    process = subprocess.Popen(
        command,
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=Path(__file__).resolve().parent.parent,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{base}/healthz")
    except OSError:
        process.kill()
        raise
    return process, base


def start_alertmanager(work: Path, binary: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    alertmanager_config(work / "am.yml")
    process = subprocess.Popen(
        [
            binary,
            f"--config.file={work / 'am.yml'}",
            f"--storage.path={work / 'am'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",
            "--log.level=warn",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{base}/-/ready")
    except OSError:
        process.kill()
        raise
    return process, base


def trial(name: str, binary: str, alerts: list[dict], args: argparse.Namespace) -> dict:
    """One fresh server (empty state), the whole stream, then its count of alerts held."""
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        process, base = (
            start_sentinel(work) if name == "sentinel" else start_alertmanager(work, binary)
        )
        try:
            server = psutil.Process(process.pid)
            before = server.cpu_times()
            result = asyncio.run(
                blast(f"{base}/api/v2/alerts", alerts, args.rounds, args.batch, args.senders)
            )
            after = server.cpu_times()
            cpu = (after.user - before.user) + (after.system - before.system)
            result["cpu_us_per_alert"] = 1e6 * cpu / (len(alerts) * args.rounds)
            result["busy_cores"] = cpu / result["seconds"]
            result["alerts held"] = count_json(f"{base}/api/v2/alerts")
            if name == "sentinel":
                result["open incidents"] = count_json(
                    f"{base}/api/v1/incidents?status=open&limit=500", "incidents"
                )
        finally:
            process.terminate()
            process.wait()
    return result


FIGURES = (
    "alerts_per_s",
    "new_alerts_per_s",
    "resent_alerts_per_s",
    "p50_ms",
    "p99_ms",
    "cpu_us_per_alert",
    "busy_cores",
)
LABELS = {"cpu_us_per_alert": "server CPU µs per alert", "busy_cores": "server cores busy"}
DIGITS = {"p50_ms": 1, "p99_ms": 1, "cpu_us_per_alert": 1, "busy_cores": 2}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--alerts", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--senders", type=int, default=4)
    parser.add_argument("--trials", type=int, default=5, help="fresh servers each, alternating")
    args = parser.parse_args()
    binary = shutil.which("prometheus-alertmanager")
    if not binary:
        sys.exit("prometheus-alertmanager not found: apt-get install prometheus-alertmanager")
    alerts = stream(args.alerts)
    console = Console(width=120)
    names = ["Alertmanager 0.25", "sentinel"]
    trials: dict[str, list[dict]] = {name: [] for name in names}
    for number in range(args.trials):
        # Alternate who goes first, so neither always runs on a warmer machine.
        for name in names if number % 2 == 0 else names[::-1]:
            console.print(f"trial {number + 1}/{args.trials}: {name}…")
            trials[name].append(trial(name, binary, alerts, args))
    table = Table(
        title=f"{args.alerts} distinct alerts, {args.rounds} rounds, batches of {args.batch}, "
        f"{args.senders} concurrent senders: median (min–max) of {args.trials} trials"
    )
    table.add_column("figure")
    for name in names:
        table.add_column(name, justify="right")
    table.add_column("sentinel / Alertmanager", justify="right")
    medians = {n: {k: float(np.median([t[k] for t in trials[n]])) for k in FIGURES} for n in names}
    for key in FIGURES:
        digits = DIGITS.get(key, 0)
        cells = [
            f"{medians[n][key]:,.{digits}f} ({min(t[key] for t in trials[n]):,.{digits}f}–"
            f"{max(t[key] for t in trials[n]):,.{digits}f})"
            for n in names
        ]
        ratio = medians["sentinel"][key] / medians["Alertmanager 0.25"][key]
        table.add_row(LABELS.get(key, key.replace("_", " ")), *cells, f"{ratio:.2f}×")
    for key in ("failed_requests", "alerts held"):
        table.add_row(key.replace("_", " "), *(str(max(t[key] for t in trials[n])) for n in names))
    console.print(table)
    incidents = sorted({t["open incidents"] for t in trials["sentinel"]})
    console.print(
        f"sentinel grouped the {args.alerts} alerts into {incidents} open incidents "
        "(correlation on); throughput ratios are of medians"
    )


if __name__ == "__main__":
    main()
