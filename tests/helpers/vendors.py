"""Local stand-ins for external desks and pagers that cannot run here.

Each checks every request against the vendor's documented API (paths, methods, auth,
required fields, limits) and answers as documented, recording what it accepted. ``outage``
makes the next answers fail (a status, or ``"garbage"`` for a 200 that is not JSON).
"""

from __future__ import annotations

import base64
import itertools
import json
import threading
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.helpers.servers import _Server

Answer = tuple[int, Any]


class Vendor(_Server):
    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []  # accepted ones
        self.refused: list[tuple[int, str]] = []
        self.outage: list[int | str] = []
        self._lock = threading.Lock()

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                return None

            def _any(self) -> None:
                owner: Vendor = self.server.owner  # type: ignore[attr-defined]
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with owner._lock:
                    status, answer = owner._answer(self.command, self.path, self.headers, raw)
                text = answer if isinstance(answer, str) else json.dumps(answer)
                data = text.encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_PATCH = _any

        super().__init__(Handler)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _answer(self, method: str, path: str, headers: Any, raw: bytes) -> Answer:
        if self.outage:
            failure = self.outage.pop(0)
            return (200, "<html>oops") if failure == "garbage" else (int(failure), {})
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            return self._refuse(400, "body is not JSON")
        status, answer = self.handle(method, path, headers, body, raw)
        if status >= 400:
            self.refused.append((status, str(answer)))
        else:
            self.requests.append({"method": method, "path": path, "body": body})
        return status, answer

    def _refuse(self, status: int, why: str) -> Answer:
        self.refused.append((status, why))
        return status, {"error": why}

    def handle(self, method: str, path: str, headers: Any, body: Any, raw: bytes) -> Answer:
        raise NotImplementedError


class PagerDuty(Vendor):
    """Events API v2 (developer.pagerduty.com, "Send an Alert Event")."""

    SEVERITIES = frozenset({"critical", "error", "warning", "info"})

    def handle(self, method, path, headers, body, raw) -> Answer:
        def invalid(why: str) -> Answer:
            return 400, {
                "status": "invalid event",
                "message": "Event object is invalid",
                "errors": [why],
            }

        if (method, path) != ("POST", "/v2/enqueue"):
            return 404, {"status": "not found"}
        if len(raw) > 512 * 1024:
            return invalid("Event exceeds 512 KB")
        if not isinstance(body, dict):
            return invalid("Event must be an object")
        if len(str(body.get("routing_key", ""))) != 32:
            return invalid("'routing_key' must be 32 characters")
        action = body.get("event_action")
        if action not in ("trigger", "acknowledge", "resolve"):
            return invalid("'event_action' is invalid")
        dedup = body.get("dedup_key")
        if action != "trigger" and not dedup:
            return invalid("'dedup_key' is required for acknowledge and resolve")
        if dedup is not None and len(str(dedup)) > 255:
            return invalid("'dedup_key' is longer than 255 characters")
        if action == "trigger":
            payload = body.get("payload")
            if not isinstance(payload, dict):
                return invalid("'payload' is required for trigger")
            summary = payload.get("summary")
            if not isinstance(summary, str) or not summary or len(summary) > 1024:
                return invalid("'payload.summary' must be 1 to 1024 characters")
            if not payload.get("source"):
                return invalid("'payload.source' is required")
            if payload.get("severity") not in self.SEVERITIES:
                return invalid("'payload.severity' is invalid")
        return 202, {"status": "success", "message": "Event processed", "dedup_key": dedup}


class ServiceNow(Vendor):
    """Table API on ``incident`` (docs.servicenow.com, "Table API"), basic auth."""

    def __init__(self, user: str = "sentinel", password: str = "s3cret") -> None:
        super().__init__()
        self.auth = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
        self.records: dict[str, dict[str, Any]] = {}
        self._ids = (f"{n:032x}" for n in itertools.count(1))

    def handle(self, method, path, headers, body, raw) -> Answer:
        if headers.get("Authorization") != self.auth:
            return 401, {"error": {"message": "User Not Authenticated"}, "status": "failure"}
        if "application/json" not in headers.get("Accept", ""):
            return 406, {"error": {"message": "Accept must allow application/json"}}
        url = urlsplit(path)
        table = "/api/now/table/incident"
        if method == "GET" and url.path == table:
            query = parse_qs(url.query).get("sysparm_query", [""])[0]
            field, _, value = query.partition("=")
            found = [r for r in self.records.values() if field and r.get(field) == value]
            limit = int(parse_qs(url.query).get("sysparm_limit", ["10000"])[0])
            return 200, {"result": [{"sys_id": r["sys_id"]} for r in found[:limit]]}
        if method == "POST" and url.path == table:
            if not isinstance(body, dict) or not body.get("short_description"):
                return 400, {"error": {"message": "short_description is mandatory"}}
            for key in ("impact", "urgency"):
                if body.get(key) not in ("1", "2", "3"):
                    return 400, {"error": {"message": f"{key} must be 1, 2 or 3"}}
            sys_id = next(self._ids)
            record = {
                **body,
                "sys_id": sys_id,
                "number": f"INC{len(self.records) + 10001:07d}",
                "state": "1",
                "work_notes_list": [],
            }
            self.records[sys_id] = record
            return 201, {"result": record}
        if method == "PATCH" and url.path.startswith(table + "/"):
            record = self.records.get(url.path.rsplit("/", 1)[1])
            if record is None:
                return 404, {"error": {"message": "No Record found"}}
            if body.get("state") == "6" and not (
                body.get("close_code") and body.get("close_notes")
            ):
                return 403, {"error": {"message": "Data Policy Exception: close code and notes"}}
            if "work_notes" in body:
                record["work_notes_list"].append(body["work_notes"])
            record.update({k: v for k, v in body.items() if k != "work_notes"})
            return 200, {"result": record}
        return 400, {"error": {"message": f"{method} {url.path} not allowed"}}


class Receiver(Vendor):
    """A JSON receiver that keeps the headers too (webhooks, Alertmanager's format)."""

    def handle(self, method, path, headers, body, raw) -> Answer:
        if method != "POST":
            return 405, {"error": "POST only"}
        self.headers_seen = getattr(self, "headers_seen", [])
        self.headers_seen.append(({k: v for k, v in headers.items()}, raw))
        return 200, {}
