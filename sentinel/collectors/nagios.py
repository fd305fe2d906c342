"""Nagios/Icinga monitoring plugins, run as an argv list (never through a shell).

Exit 0/1/2/3 mean OK/WARNING/CRITICAL/UNKNOWN. The state is the sample ``nagios_state``;
CRITICAL and UNKNOWN also take the target down. Performance data
(``'label'=value[UOM];warn;crit;min;max``) becomes ``nagios_perfdata{label,uom}`` samples,
in base units (seconds, bytes), with ``_warning``/``_critical`` thresholds where given.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
from typing import Literal

from pydantic import Field

from sentinel.collectors.base import Reading, TargetConfig, collectors

STATES = ("OK", "WARNING", "CRITICAL", "UNKNOWN")
MAX_OUTPUT = 64 << 10
_PERF_ITEM = re.compile(r"('(?:[^']|'')+'|[^'=\s][^=\s]*)=(\S*)")
_VALUE = re.compile(r"^(-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)([a-zA-Z%]*)$")
_SCALE = {
    "": ("", 1.0),
    "%": ("percent", 1.0),
    "c": ("counter", 1.0),
    "s": ("seconds", 1.0),
    "ms": ("seconds", 1e-3),
    "us": ("seconds", 1e-6),
    "B": ("bytes", 1.0),
    "KB": ("bytes", 1e3),
    "MB": ("bytes", 1e6),
    "GB": ("bytes", 1e9),
    "TB": ("bytes", 1e12),
}


class NagiosConfig(TargetConfig):
    kind: Literal["nagios"] = "nagios"
    command: list[str] = Field(min_length=1, description="plugin path and arguments")


class PerfdataError(ValueError):
    """Performance data that does not follow the plugin guidelines."""


def parse_perfdata(text: str) -> list[tuple[str, str, float, float | None, float | None]]:
    """(label, unit, value, warning, critical) for each item; ranges give no threshold.

    >>> parse_perfdata("time=0.004s;1;2;0 'free space'=80%;;;0;100 size=2KB")
    [('time', 'seconds', 0.004, 1.0, 2.0), ('free space', 'percent', 80.0, None, None), \
('size', 'bytes', 2000.0, None, None)]
    """
    items = []
    position = 0
    text = text.strip()
    for match in _PERF_ITEM.finditer(text):
        if text[position : match.start()].strip():
            raise PerfdataError(f"unparseable perfdata near {text[position : match.start()]!r}")
        position = match.end()
        label = match.group(1).strip("'").replace("''", "'")
        fields = match.group(2).split(";")
        if fields[0] in ("U", ""):
            continue  # the plugin could not measure this one
        value = _VALUE.match(fields[0])
        if value is None or value.group(2) not in _SCALE:
            raise PerfdataError(f"unparseable perfdata value {match.group(0)!r}")
        unit, scale = _SCALE[value.group(2)]
        thresholds = [_threshold(f, scale) for f in ([*fields, "", ""])[1:3]]
        items.append((label, unit, float(value.group(1)) * scale, *thresholds))
    if text[position:].strip():
        raise PerfdataError(f"unparseable perfdata near {text[position:]!r}")
    return items


def _threshold(field: str, scale: float) -> float | None:
    """A plain number threshold; Nagios ranges (``10:20``, ``@5``, ``~:3``) are not one value."""
    try:
        return float(field) * scale
    except ValueError:
        return None


def split_output(output: str) -> tuple[str, str]:
    """(status text, all perfdata): perfdata follows ``|`` on the first or later lines."""
    lines = output.splitlines() or [""]
    text, _, perf = lines[0].partition("|")
    more = []
    for line in lines[1:]:
        if "|" in line:
            more.append(line.partition("|")[2])
        elif more:
            more.append(line)
    return text.strip(), " ".join([perf, *more]).strip()


@collectors.register("nagios")
class NagiosCollector:
    Config = NagiosConfig

    def __init__(self, config: NagiosConfig) -> None:
        self.config = config

    async def read(self) -> Reading:
        reading = Reading()
        try:
            process = await asyncio.create_subprocess_exec(
                *self.config.command,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                start_new_session=True,  # its own process group, so a timeout kills it all
            )
        except OSError as exc:
            return reading.fail("exec", f"cannot run {self.config.command[0]}: {exc.strerror}")
        try:
            stdout, stderr = await process.communicate()
        finally:
            if process.returncode is None:  # cancelled by the poll timeout
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                await process.wait()
        code = process.returncode
        output = stdout[:MAX_OUTPUT].decode(errors="replace")
        if code not in (0, 1, 2, 3):
            how = f"killed by signal {-code}" if code < 0 else f"exit {code}"
            if code > 128:
                how += f" (signal {code - 128})"
            detail = (stderr or stdout)[:200].decode(errors="replace").strip()
            return reading.fail("exit", f"plugin {how}" + (f": {detail}" if detail else ""))
        text, perf = split_output(output)
        reading.add("nagios_state", code)
        try:
            for label, unit, value, warning, critical in parse_perfdata(perf):
                labels = {"label": label, "uom": unit}
                reading.add("nagios_perfdata", value, labels)
                if warning is not None:
                    reading.add("nagios_perfdata_warning", warning, labels)
                if critical is not None:
                    reading.add("nagios_perfdata_critical", critical, labels)
        except PerfdataError as exc:
            return reading.fail("parse", str(exc))
        if code >= 2:
            reading.fail("state", f"{STATES[code]}: {text or 'no output'}")
        return reading

    async def close(self) -> None:
        return None
