"""TCP services: connect time, optionally a line sent and an answer expected."""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from typing import Literal

from pydantic import Field

from sentinel.collectors.base import Reading, TargetConfig, collectors


class TcpConfig(TargetConfig):
    kind: Literal["tcp"] = "tcp"
    host: str
    port: int = Field(ge=1, le=65535)
    send: str | None = None
    expect: str | None = Field(None, description="regex the first bytes received must match")


@collectors.register("tcp")
class TcpCollector:
    Config = TcpConfig

    def __init__(self, config: TcpConfig) -> None:
        self.config = config
        self._expect = re.compile(config.expect) if config.expect else None

    async def read(self) -> Reading:
        reading = Reading()
        started = time.perf_counter()
        try:
            reader, writer = await asyncio.open_connection(self.config.host, self.config.port)
        except OSError as exc:
            return reading.fail("connect", f"connect failed: {exc.strerror or exc}")
        try:
            reading.add("tcp_connect_seconds", time.perf_counter() - started)
            if self.config.send is not None:
                writer.write(self.config.send.encode())
                await writer.drain()
            if self._expect is not None:
                answer = (await reader.read(4096)).decode(errors="replace")
                matched = bool(self._expect.search(answer))
                reading.add("tcp_expect_match", float(matched))
                if not matched:
                    reading.fail("content", f"answer {answer[:80]!r} does not match")
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
        return reading

    async def close(self) -> None:
        return None
