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


class JiraServiceManagement(Vendor):
    """``/rest/servicedeskapi/request`` (developer.atlassian.com, JSM Cloud REST API)."""

    def __init__(
        self,
        user: str,
        token: str,
        desk: str = "10",
        request_type: str = "25",
        resolve_transition: str = "761",
    ) -> None:
        super().__init__()
        self.auth = "Basic " + base64.b64encode(f"{user}:{token}".encode()).decode()
        self.desk, self.request_type, self.transition = desk, request_type, resolve_transition
        self.records: dict[str, dict[str, Any]] = {}

    def handle(self, method, path, headers, body, raw) -> Answer:
        if headers.get("Authorization") != self.auth:
            return 401, {"errorMessage": "Client must be authenticated"}
        root = "/rest/servicedeskapi/request"
        if method == "POST" and path == root:
            if (
                body.get("serviceDeskId") != self.desk
                or body.get("requestTypeId") != self.request_type
            ):
                return 400, {"errorMessage": "unknown service desk or request type"}
            values = body.get("requestFieldValues") or {}
            if not values.get("summary") or len(values["summary"]) > 255:
                return 400, {"errorMessage": "summary is required (at most 255 characters)"}
            key = f"HELP-{len(self.records) + 1}"
            self.records[key] = {**values, "comments": [], "status": "Waiting for support"}
            return 201, {"issueId": str(10000 + len(self.records)), "issueKey": key}
        parts = path[len(root) + 1 :].split("/") if path.startswith(root + "/") else []
        if method == "POST" and len(parts) == 2 and parts[0] in self.records:
            record = self.records[parts[0]]
            if parts[1] == "comment":
                if not isinstance(body.get("body"), str) or not isinstance(
                    body.get("public"), bool
                ):
                    return 400, {"errorMessage": "body (string) and public (boolean) required"}
                record["comments"].append(body)
                return 201, {"id": str(len(record["comments"])), "body": body["body"]}
            if parts[1] == "transition":
                if body.get("id") != self.transition:
                    return 400, {"errorMessage": "transition not available"}
                record["status"] = "Resolved"
                record["comments"].append(body.get("additionalComment"))
                return 204, ""
        return 404, {"errorMessage": f"{method} {path} not found"}


class Zammad(Vendor):
    """Zammad REST API (docs.zammad.org, "Tickets", "Articles"), token access."""

    def __init__(self, token: str) -> None:
        super().__init__()
        self.token = token
        self.records: dict[int, dict[str, Any]] = {}

    def handle(self, method, path, headers, body, raw) -> Answer:
        if headers.get("Authorization") != f"Token token={self.token}":
            return 401, {"error": "authentication failed"}
        if method == "POST" and path == "/api/v1/tickets":
            article = body.get("article") or {}
            if not body.get("title") or not body.get("group") or not body.get("customer"):
                return 422, {"error": "title, group and customer are required"}
            if not article.get("body"):
                return 422, {"error": "article body is required"}
            ticket_id = len(self.records) + 1
            self.records[ticket_id] = {**body, "articles": [article], "state": "new"}
            return 201, {"id": ticket_id, "number": f"{31001 + ticket_id}"}
        if method == "POST" and path == "/api/v1/ticket_articles":
            ticket = self.records.get(body.get("ticket_id"))
            if ticket is None or not body.get("body"):
                return 422, {"error": "ticket_id and body are required"}
            ticket["articles"].append(body)
            return 201, {"id": len(ticket["articles"]), "ticket_id": body["ticket_id"]}
        if method == "PUT" and path.startswith("/api/v1/tickets/"):
            ticket = self.records.get(int(path.rsplit("/", 1)[1]))
            if ticket is None:
                return 404, {"error": "Couldn't find Ticket"}
            if body.get("state") not in ("new", "open", "pending reminder", "closed"):
                return 422, {"error": "unknown state"}
            ticket["state"] = body["state"]
            return 200, {"id": int(path.rsplit("/", 1)[1]), "state": ticket["state"]}
        return 404, {"error": f"{method} {path} not found"}


class Glpi(Vendor):
    """GLPI REST API (``apirest.php``, GLPI's apirest.md): sessions, Ticket, ITILFollowup."""

    def __init__(self, user_token: str, app_token: str = "") -> None:
        super().__init__()
        self.user_token, self.app_token = user_token, app_token
        self.sessions: set[str] = set()
        self.records: dict[int, dict[str, Any]] = {}

    def handle(self, method, path, headers, body, raw) -> Answer:
        if self.app_token and headers.get("App-Token") != self.app_token:
            return 400, ["ERROR_APP_TOKEN_PARAMETERS_MISSING", "missing parameter app_token"]
        if path == "/apirest.php/initSession" and method == "GET":
            if headers.get("Authorization") != f"user_token {self.user_token}":
                return 401, ["ERROR_GLPI_LOGIN_USER_TOKEN", "parameter user_token seems invalid"]
            session = f"s{len(self.sessions) + 1}"
            self.sessions.add(session)
            return 200, {"session_token": session}
        session = headers.get("Session-Token")
        if session not in self.sessions:
            return 401, ["ERROR_SESSION_TOKEN_INVALID", "session_token seems invalid"]
        if path == "/apirest.php/killSession":
            self.sessions.discard(session)
            return 200, ""
        data = (body or {}).get("input") if isinstance(body, dict) else None
        if method == "POST" and path == "/apirest.php/Ticket":
            if not data or not data.get("name") or not data.get("content"):
                return 400, ["ERROR_GLPI_ADD", "name and content are required"]
            if data.get("urgency") not in range(1, 6) or data.get("impact") not in range(1, 6):
                return 400, ["ERROR_GLPI_ADD", "urgency and impact are 1 to 5"]
            ticket_id = len(self.records) + 1
            self.records[ticket_id] = {**data, "status": 1, "followups": []}
            return 201, {"id": ticket_id, "message": ""}
        parts = path.split("/")
        if len(parts) >= 4 and parts[2] == "Ticket" and parts[3].isdigit():
            ticket = self.records.get(int(parts[3]))
            if ticket is None:
                return 404, ["ERROR_ITEM_NOT_FOUND", "not found"]
            if method == "POST" and parts[4:] == ["ITILFollowup"]:
                if data.get("itemtype") != "Ticket" or data.get("items_id") != int(parts[3]):
                    return 400, ["ERROR_GLPI_ADD", "itemtype and items_id must name the ticket"]
                ticket["followups"].append(data["content"])
                return 201, {"id": len(ticket["followups"]), "message": ""}
            if method == "PUT" and len(parts) == 4:
                ticket.update(data)
                return 200, [{parts[3]: True, "message": ""}]
        return 400, ["ERROR_RESOURCE_NOT_FOUND_NOR_COMMONDBTM", f"{method} {path}"]
