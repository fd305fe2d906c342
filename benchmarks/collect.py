"""Collection at scale in one process: many HTTP targets plus node_exporter-sized scrapes.

    python benchmarks/collect.py [--http-targets 1000] [--scrapes 50] [--interval 10]
                                 [--seconds 60]

Runs sentinel's own scheduler (`poll_forever`) and collectors against a peer server in a
separate process, then the same schedule with bare aiohttp GETs (the floor: no sentinel
code) for comparison, and times the exposition parser against prometheus_client's.
Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import numpy as np
from loopback import free_port, wait_http
from prometheus_client.parser import text_string_to_metric_families
from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sentinel.collectors import Reading  # noqa: E402
from sentinel.collectors.http import HttpCollector, HttpConfig  # noqa: E402
from sentinel.collectors.prometheus import PrometheusCollector, PrometheusConfig  # noqa: E402
from sentinel.collectors.schedule import poll_forever  # noqa: E402


def exposition_payload(workdir: Path) -> tuple[bytes, str]:
    """A real node_exporter's /metrics if the package is installed, else a synthetic one."""
    binary = shutil.which("prometheus-node-exporter")
    if binary:
        port = free_port()
        proc = subprocess.Popen(
            [binary, f"--web.listen-address=127.0.0.1:{port}"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            return wait_http(f"http://127.0.0.1:{port}/metrics"), "node_exporter (real)"
        finally:
            proc.terminate()
            proc.wait()
    rng = random.Random(1)
    lines = []
    for family in range(50):
        lines += [f"# HELP synth_{family} synthetic", f"# TYPE synth_{family} gauge"]
        lines += [
            f'synth_{family}{{cpu="{i}",mode="m{i % 7}"}} {rng.random() * 1e6:.6g}'
            for i in range(10)
        ]
    return ("\n".join(lines) + "\n").encode(), "synthetic (500 samples)"


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def run_sentinel(base: str, args: argparse.Namespace) -> dict[str, float]:
    collectors = [
        HttpCollector(
            HttpConfig(
                name=f"h{i}",
                url=f"{base}/t/{i}",
                interval=args.interval,
                jitter=args.interval,
                timeout=5,
            )
        )
        for i in range(args.http_targets)
    ] + [
        PrometheusCollector(
            PrometheusConfig(
                name=f"p{i}",
                url=f"{base}/metrics/{i}",
                interval=args.interval,
                jitter=args.interval,
                timeout=5,
            )
        )
        for i in range(args.scrapes)
    ]
    lags: list[float] = []
    counts = {"polls": 0, "samples": 0, "failures": 0}

    def on_result(result, lag: float) -> None:
        lags.append(lag)
        counts["polls"] += 1
        counts["samples"] += len(result.batch)
        counts["failures"] += result.failure is not None

    rng = random.Random(7)
    started_cpu, started = cpu_seconds(), time.monotonic()
    tasks = [asyncio.create_task(poll_forever(c, on_result, rng=rng)) for c in collectors]
    await asyncio.sleep(args.seconds)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    elapsed, cpu = time.monotonic() - started, cpu_seconds() - started_cpu
    for collector in collectors:
        await collector.close()
    return summarise(counts, lags, elapsed, cpu)


async def run_bare(base: str, args: argparse.Namespace) -> dict[str, float]:
    """The same schedule with plain aiohttp GETs and no parsing: the cost floor."""
    lags: list[float] = []
    counts = {"polls": 0, "samples": 0, "failures": 0}
    urls = [f"{base}/t/{i}" for i in range(args.http_targets)]
    urls += [f"{base}/metrics/{i}" for i in range(args.scrapes)]
    rng = random.Random(7)

    async def loop(session: aiohttp.ClientSession, url: str) -> None:
        due = time.monotonic() + rng.uniform(0, args.interval)
        while True:
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            lags.append(max(0.0, time.monotonic() - due))
            try:
                async with session.get(url) as response:
                    await response.read()
                counts["polls"] += 1
            except aiohttp.ClientError:
                counts["failures"] += 1
            due += args.interval

    started_cpu, started = cpu_seconds(), time.monotonic()
    async with aiohttp.ClientSession() as session:
        tasks = [asyncio.create_task(loop(session, url)) for url in urls]
        await asyncio.sleep(args.seconds)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return summarise(counts, lags, time.monotonic() - started, cpu_seconds() - started_cpu)


def summarise(counts: dict[str, int], lags: list[float], elapsed: float, cpu: float):
    lag = np.array(lags or [0.0])
    samples = counts["samples"]
    return {
        "polls": counts["polls"],
        "failures": counts["failures"],
        "samples": samples,
        "samples_per_s": samples / elapsed,
        "cpu_s": cpu,
        "cpu_per_1000": 1000 * cpu / samples if samples else float("nan"),
        "lag_p50": float(np.percentile(lag, 50)),
        "lag_p99": float(np.percentile(lag, 99)),
        "lag_max": float(lag.max()),
    }


def parser_rates(payload: bytes, repeat: int) -> tuple[float, float, int]:
    text = payload.decode()
    collector = PrometheusCollector(PrometheusConfig(name="p", url="http://127.0.0.1/"))
    count = sum(len(f.samples) for f in text_string_to_metric_families(text))
    started = time.perf_counter()
    for _ in range(repeat):
        for family in text_string_to_metric_families(text):
            for _sample in family.samples:
                pass
    raw = count * repeat / (time.perf_counter() - started)
    started = time.perf_counter()
    for _ in range(repeat):
        collector.parse(text, Reading())
    ours = count * repeat / (time.perf_counter() - started)
    return raw, ours, count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--http-targets", type=int, default=1000)
    parser.add_argument("--scrapes", type=int, default=50)
    parser.add_argument("--interval", type=float, default=10.0)
    parser.add_argument("--seconds", type=float, default=60.0)
    args = parser.parse_args()
    console = Console()
    with tempfile.TemporaryDirectory() as tmp:
        payload, origin = exposition_payload(Path(tmp))
        payload_file = Path(tmp) / "payload.txt"
        payload_file.write_bytes(payload)
        port = free_port()
        server = subprocess.Popen(
            [
                sys.executable,
                str(Path(__file__).parent / "target_server.py"),
                str(port),
                str(payload_file),
            ]
        )
        try:
            base = f"http://127.0.0.1:{port}"
            wait_http(f"{base}/t/0")
            console.print(
                f"{args.http_targets} HTTP targets + {args.scrapes} scrapes of "
                f"{origin}, every {args.interval:g}s, for {args.seconds:g}s each run"
            )
            ours = asyncio.run(run_sentinel(base, args))
            bare = asyncio.run(run_bare(base, args))
        finally:
            server.terminate()
            server.wait()
    table = Table(title="Collection (one process, one core at most)")
    table.add_column("figure")
    table.add_column("sentinel", justify="right")
    table.add_column("bare aiohttp GETs", justify="right")
    rows = [
        ("polls", "{:.0f}"),
        ("failures", "{:.0f}"),
        ("samples", "{:.0f}"),
        ("samples_per_s", "{:,.0f}"),
        ("cpu_s", "{:.2f}"),
        ("cpu_per_1000", "{:.4f}"),
        ("lag_p50", "{:.4f}"),
        ("lag_p99", "{:.4f}"),
        ("lag_max", "{:.4f}"),
    ]
    for key, fmt in rows:
        table.add_row(key.replace("_", " "), fmt.format(ours[key]), fmt.format(bare[key]))
    console.print(table)
    raw, parsed, count = parser_rates(payload, repeat=50)
    parse_table = Table(title=f"Exposition parsing ({count} samples a payload)")
    parse_table.add_column("parser")
    parse_table.add_column("samples/s", justify="right")
    parse_table.add_row("prometheus_client text_string_to_metric_families", f"{raw:,.0f}")
    parse_table.add_row("sentinel prometheus collector (same parser + filters)", f"{parsed:,.0f}")
    console.print(parse_table)


if __name__ == "__main__":
    main()
