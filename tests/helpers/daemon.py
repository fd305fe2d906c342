"""A real ``sentinel run`` process on loopback, started and stopped by the test."""

from __future__ import annotations

import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import urllib.request
from pathlib import Path

from tests.helpers.wait import wait_until


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class DaemonProcess:
    def __init__(
        self, rules: Path | None, state: Path, port: int | None = None, tls_ca: str | None = None
    ) -> None:
        """``rules=None`` runs on the embedded defaults, as a bare ``sentinel run`` does;
        ``tls_ca`` (a certificate file) means the daemon serves HTTPS signed by it."""
        self.tls = ssl.create_default_context(cafile=tls_ca) if tls_ca else None
        self.base = f"{'https' if tls_ca else 'http'}://127.0.0.1:"
        self.rules, self.state = rules, state
        self.port = port or free_port()
        self.log = state / "daemon.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> DaemonProcess:
        self.state.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [
                    *(sys.executable, "-m", "sentinel", "run"),
                    *(["--rules", str(self.rules)] if self.rules else []),
                    *("--state", str(self.state), "--listen", f"127.0.0.1:{self.port}"),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
            )
        wait_until(self.healthy, timeout=30, what=f"daemon health (log: {self.log})")
        return self

    def healthy(self) -> dict | None:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError(f"daemon exited {self.proc.returncode}:\n{self.log.read_text()}")
        try:
            url = f"{self.base}{self.port}/healthz"
            with urllib.request.urlopen(url, timeout=2, context=self.tls) as r:
                return json.load(r)
        except OSError:
            return None

    def stop(self, sig: int = signal.SIGTERM) -> int:
        assert self.proc is not None
        self.proc.send_signal(sig)
        return self.proc.wait(timeout=30)

    def __enter__(self) -> DaemonProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.stop(signal.SIGKILL)
