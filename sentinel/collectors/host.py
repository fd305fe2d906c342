"""The machine sentinel runs on, read through psutil (CPU, memory, disks, network, load)."""

from __future__ import annotations

import asyncio
import os
import socket
from typing import Literal

import psutil
from pydantic import Field

from sentinel.collectors.base import Reading, TargetConfig, collectors

# Pseudo and read-only image filesystems say nothing about capacity a person can act on.
_IGNORED_FSTYPES = {"squashfs", "tmpfs", "devtmpfs", "overlay", "proc", "sysfs", "nsfs"}


class HostConfig(TargetConfig):
    kind: Literal["host"] = "host"
    processes: list[str] = Field(
        default_factory=list, description="process names that must be running"
    )


@collectors.register("host")
class HostCollector:
    Config = HostConfig

    def __init__(self, config: HostConfig) -> None:
        labels = {"host": socket.gethostname(), **config.labels}
        self.config = config.model_copy(update={"labels": labels})

    async def read(self) -> Reading:
        return await asyncio.to_thread(self._read_blocking)

    def _read_blocking(self) -> Reading:
        reading = Reading()
        cpu = psutil.cpu_times_percent(interval=None)
        for mode, value in cpu._asdict().items():
            reading.add("host_cpu_percent", value, {"mode": mode})
        reading.add("host_cpu_busy_percent", 100.0 - cpu.idle)
        reading.add("host_memory_used_percent", psutil.virtual_memory().percent)
        reading.add("host_swap_used_percent", psutil.swap_memory().percent)
        for load, value in zip(("1", "5", "15"), os.getloadavg(), strict=True):
            reading.add("host_load", value, {"period": load})
            reading.add("host_load_per_cpu", value / (psutil.cpu_count() or 1), {"period": load})
        self._read_filesystems(reading)
        for disk, io in psutil.disk_io_counters(perdisk=True).items():
            reading.add("host_disk_read_bytes_total", io.read_bytes, {"device": disk})
            reading.add("host_disk_written_bytes_total", io.write_bytes, {"device": disk})
        for nic, io in psutil.net_io_counters(pernic=True).items():
            reading.add("host_network_receive_bytes_total", io.bytes_recv, {"interface": nic})
            reading.add("host_network_transmit_bytes_total", io.bytes_sent, {"interface": nic})
            reading.add("host_network_errors_total", io.errin + io.errout, {"interface": nic})
            reading.add("host_network_drops_total", io.dropin + io.dropout, {"interface": nic})
        names = [p.info["name"] for p in psutil.process_iter(["name"])]
        reading.add("host_processes", len(names))
        for wanted in self.config.processes:
            reading.add("host_process_up", float(wanted in names), {"process": wanted})
        return reading

    @staticmethod
    def _read_filesystems(reading: Reading) -> None:
        for part in psutil.disk_partitions(all=False):
            if part.fstype in _IGNORED_FSTYPES:
                continue
            try:
                usage = psutil.disk_usage(part.mountpoint)
                stat = os.statvfs(part.mountpoint)
            except OSError:
                continue  # unmounted between listing and reading
            reading.add(
                "host_filesystem_used_percent", usage.percent, {"mountpoint": part.mountpoint}
            )
            if stat.f_files:
                used = 100.0 * (stat.f_files - stat.f_ffree) / stat.f_files
                reading.add(
                    "host_filesystem_inodes_used_percent", used, {"mountpoint": part.mountpoint}
                )

    async def close(self) -> None:
        return None
