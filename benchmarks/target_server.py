"""Load-test peer for benchmarks: answers /t/N with 200 "ok" and /metrics/N with a fixed
exposition payload. Runs in its own process so it does not share the measured loop."""

from __future__ import annotations

import sys
from pathlib import Path

from aiohttp import web


def main() -> None:
    port, payload_file = int(sys.argv[1]), Path(sys.argv[2])
    payload = payload_file.read_bytes()

    async def ok(_: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def metrics(_: web.Request) -> web.Response:
        return web.Response(body=payload, content_type="text/plain")

    app = web.Application()
    app.add_routes([web.get("/t/{n}", ok), web.get("/metrics/{n}", metrics)])
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


if __name__ == "__main__":
    main()
