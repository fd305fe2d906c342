"""The desk's read API (incidents, problems, timeline; paginated), change events, health
and sentinel's own metrics."""

from __future__ import annotations

import dataclasses
from typing import Literal, TypeVar

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, ConfigDict, Field, StrictStr

from sentinel.api.base import Rejected, context, format_time, page_params, parse_body, parse_time
from sentinel.model import Change, Problem
from sentinel.store import MAX_ROW_ID

Row = TypeVar("Row")


def _jsonable(value: object) -> object:
    return dataclasses.asdict(value) if dataclasses.is_dataclass(value) else value


async def healthz(request: web.Request) -> web.Response:
    return web.json_response(context(request).health())


async def metrics(request: web.Request) -> web.Response:
    body = generate_latest(context(request).metrics.registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


async def incidents(request: web.Request) -> web.Response:
    store = context(request).store
    limit, offset = page_params(request)
    rows = store.incidents(
        statuses=request.query.getall("status", []),
        priorities=request.query.getall("priority", []),
        limit=offset + limit,
    )[offset:]
    return web.json_response(
        {"incidents": [_jsonable(i) for i in rows], "offset": offset, "limit": limit}
    )


def _row_id(request: web.Request, what: str) -> int:
    try:
        row_id = int(request.match_info["id"])
    except ValueError:
        raise Rejected(400, "bad_id", f"{what} id must be a whole number") from None
    if not 1 <= row_id <= MAX_ROW_ID:
        raise Rejected(404, "not_found", f"no {what} {row_id}")
    return row_id


def _found(row: Row | None, what: str, row_id: int) -> Row:
    if row is None:
        raise Rejected(404, "not_found", f"no {what} {row_id}")
    return row


async def incident(request: web.Request) -> web.Response:
    store = context(request).store
    incident_id = _row_id(request, "incident")
    found = _found(store.incident(incident_id), "incident", incident_id)
    return web.json_response(
        {
            "incident": _jsonable(found),
            "ticket": _jsonable(store.ticket(incident_id)),
            "alerts": [_jsonable(a) for a in store.incident_alerts(incident_id)],
            "timeline": [_jsonable(e) for e in store.timeline(incident_id)],
        }
    )


async def problems(request: web.Request) -> web.Response:
    limit, offset = page_params(request)
    rows = context(request).store.problems()[offset : offset + limit]
    return web.json_response(
        {"problems": [_problem_json(p) for p in rows], "offset": offset, "limit": limit}
    )


def _problem_json(problem: Problem) -> dict:
    return {**dataclasses.asdict(problem), "mtbf": problem.mtbf}


async def problem(request: web.Request) -> web.Response:
    """One problem: its record, its incidents and its own timeline."""
    store = context(request).store
    problem_id = _row_id(request, "problem")
    found = _found(store.problem(problem_id), "problem", problem_id)
    linked = [store.incident(i) for i in found.incident_ids]
    return web.json_response(
        {
            "problem": _problem_json(found),
            "incidents": [_jsonable(i) for i in linked if i is not None],
            "timeline": [_jsonable(e) for e in store.problem_timeline(problem_id)],
        }
    )


class ChangeBody(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    service: StrictStr = Field(min_length=1, max_length=255)
    kind: Literal["deploy", "config", "feature_flag", "infrastructure", "other"] = "deploy"
    summary: StrictStr = Field(min_length=1, max_length=1024)
    at: StrictStr | None = None
    version: StrictStr = Field("", max_length=255)
    author: StrictStr = Field("", max_length=255)


async def post_change(request: web.Request) -> web.Response:
    ctx = context(request)
    body = await parse_body(request, ChangeBody)
    try:
        at = parse_time(body.at, "at")
    except ValueError as exc:
        raise Rejected(400, "invalid_body", str(exc)) from None
    change = Change(
        0, body.service, body.kind, body.summary, at or ctx.clock(), body.version, body.author
    )
    with ctx.store.transaction():
        change_id = ctx.store.add_change(change)
    return web.json_response({"id": change_id}, status=201)


async def get_changes(request: web.Request) -> web.Response:
    limit, offset = page_params(request)
    try:
        since = parse_time(request.query.get("since"), "since") or 0.0
    except ValueError as exc:
        raise Rejected(400, "bad_query", str(exc)) from None
    rows = context(request).store.changes(
        services=request.query.getall("service", []), since=since, limit=offset + limit
    )[offset:]
    return web.json_response(
        {
            "changes": [{**_jsonable(c), "at": format_time(c.at)} for c in rows],
            "offset": offset,
            "limit": limit,
        }
    )


def routes() -> list[web.RouteDef]:
    return [
        web.get("/healthz", healthz),
        web.get("/metrics", metrics),
        web.get("/api/v1/incidents", incidents),
        web.get("/api/v1/incidents/{id}", incident),
        web.get("/api/v1/problems", problems),
        web.get("/api/v1/problems/{id}", problem),
        web.get("/api/v1/changes", get_changes),
        web.post("/api/v1/changes", post_change),
    ]
