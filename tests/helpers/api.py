"""An in-process API on a real loopback socket, wired as the daemon wires it."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient, TestServer

from sentinel.config import Config, load_config
from sentinel.daemon import Daemon
from sentinel.store import Store

TOKEN = "test-token-1234"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


class Clock:
    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def make_daemon(state: Path, rules: Path | None = None, clock: Clock | None = None) -> Daemon:
    config = load_config([rules]) if rules else Config()
    return Daemon(config, Store(state / "sentinel.db"), clock=clock or Clock())


def run_client(daemon: Daemon, requests: Callable[[TestClient], Awaitable[Any]]) -> Any:
    async def go() -> Any:
        async with TestClient(TestServer(daemon.api(TOKEN), host="127.0.0.1")) as client:
            return await requests(client)

    return asyncio.run(go())
