"""Real HTTP servers on 127.0.0.1: a target that can be switched down, a webhook receiver."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class _Server:
    def __init__(self, handler: type[BaseHTTPRequestHandler]) -> None:
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.owner = self  # type: ignore[attr-defined]
        self.port = self.httpd.server_address[1]
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class _Quiet(BaseHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        return None


class TargetServer(_Server):
    """Answers 200 "ok" while ``healthy``, else ``failing_status``."""

    def __init__(self, failing_status: int = 503) -> None:
        self.healthy = True
        self.failing_status = failing_status

        class Handler(_Quiet):
            def do_GET(self) -> None:
                owner: TargetServer = self.server.owner  # type: ignore[attr-defined]
                status = 200 if owner.healthy else owner.failing_status
                body = b"ok" if owner.healthy else b"unavailable"
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        super().__init__(Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/health"


class WebhookReceiver(_Server):
    """Records every JSON body POSTed to it; answers ``status`` (503 to simulate an outage)."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.status = 200
        self._lock = threading.Lock()

        class Handler(_Quiet):
            def do_POST(self) -> None:
                owner: WebhookReceiver = self.server.owner  # type: ignore[attr-defined]
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                status = owner.status
                if status < 300:
                    with owner._lock:
                        owner.received.append({"path": self.path, **json.loads(body)})
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

        super().__init__(Handler)

    def url(self, path: str = "hook") -> str:
        return f"json://127.0.0.1:{self.port}/{path}"

    def titles(self) -> list[str]:
        with self._lock:
            return [m.get("title", "") for m in self.received]
