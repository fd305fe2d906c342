"""The desk's read API (incidents, problems, timeline; paginated), change events, health
and sentinel's own metrics.

Every listing takes ``limit`` and ``offset`` and says how many rows it has in all
(``total``), so a client can page through a storm's thousands of alerts; the store reads
only the page asked for. An unknown filter value (``status=opne``) is refused with 400, not
answered with an empty list.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Annotated, TypeVar

import msgspec
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import StringConstraints

from sentinel.api.base import Rejected, context, format_time, page_params, parse_body
from sentinel.correlate.changes import ChangeRecord
from sentinel.correlate.problems import SeenBefore, seen_before
from sentinel.model import IncidentStatus, Problem, ProblemStatus
from sentinel.schema import StrictModel, parse_time
from sentinel.store import MAX_ROW_ID, Store
from sentinel.tickets import DeskError
from sentinel.tickets.policy import PRIORITIES

DETAIL_ROWS = 100  # alerts and timeline entries shown with an incident; the rest are paged

Row = TypeVar("Row")


def _jsonable(value: object) -> object:
    if isinstance(value, msgspec.Struct):
        return msgspec.structs.asdict(value)
    return dataclasses.asdict(value) if dataclasses.is_dataclass(value) else value


async def healthz(request: web.Request) -> web.Response:
    return web.json_response(context(request).health())


async def metrics(request: web.Request) -> web.Response:
    body = generate_latest(context(request).metrics.registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


def _filter(request: web.Request, name: str, allowed: Sequence[str]) -> list[str]:
    """The repeated query parameter ``name``, each value one of ``allowed``."""
    values = request.query.getall(name, [])
    unknown = sorted(set(values).difference(allowed))
    if unknown:
        raise Rejected(400, "bad_query", f"unknown {name} {unknown[0]!r}; use {', '.join(allowed)}")
    return values


def _page(key: str, rows: Sequence[object], total: int, limit: int, offset: int) -> web.Response:
    return web.json_response(
        {key: [_jsonable(r) for r in rows], "offset": offset, "limit": limit, "total": total}
    )


async def incidents(request: web.Request) -> web.Response:
    store = context(request).store
    limit, offset = page_params(request)
    statuses = _filter(request, "status", [s.value for s in IncidentStatus])
    priorities = _filter(request, "priority", PRIORITIES)
    rows = store.incidents(statuses, priorities, limit=limit, offset=offset)
    return _page("incidents", rows, store.count_incidents(statuses, priorities), limit, offset)


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
    """One incident with its ticket, and its first alerts and timeline entries (the totals
    say whether there are more to page through)."""
    store = context(request).store
    incident_id = _row_id(request, "incident")
    found = _found(store.incident(incident_id), "incident", incident_id)
    return web.json_response(
        {
            "incident": _jsonable(found),
            "ticket": _jsonable(store.ticket(incident_id)),
            "alerts": [_jsonable(a) for a in store.incident_alerts(incident_id, DETAIL_ROWS)],
            "alerts_total": store.count_incident_alerts(incident_id),
            "timeline": [_jsonable(e) for e in store.timeline(incident_id, DETAIL_ROWS)],
            "timeline_total": store.count_timeline(incident_id),
            "seen_before": _seen_before_json(seen_before(store, found)),
        }
    )


def _seen_before_json(seen: SeenBefore | None) -> dict | None:
    if seen is None:
        return None
    return {
        "signature": seen.signature,
        "total": seen.total,
        "problem": _problem_json(seen.problem) if seen.problem else None,
        "earlier": [
            {"incident": _jsonable(past), "work": [_jsonable(e) for e in work]}
            for past, work in seen.earlier
        ],
    }


# An incident's parts that a storm makes long: how to read a page of each, and count it.
_INCIDENT_PARTS = {
    "alerts": (Store.incident_alerts, Store.count_incident_alerts),
    "timeline": (Store.timeline, Store.count_timeline),
}


async def incident_part(request: web.Request) -> web.Response:
    """One page of an incident's alerts or of its timeline."""
    store = context(request).store
    incident_id = _row_id(request, "incident")
    _found(store.incident(incident_id), "incident", incident_id)
    limit, offset = page_params(request)
    part = request.match_info["part"]
    read, count = _INCIDENT_PARTS[part]
    rows = read(store, incident_id, limit, offset)
    return _page(part, rows, count(store, incident_id), limit, offset)


async def problems(request: web.Request) -> web.Response:
    store = context(request).store
    limit, offset = page_params(request)
    statuses = _filter(request, "status", [s.value for s in ProblemStatus])
    rows = [_problem_json(p) for p in store.problems(statuses, limit, offset)]
    return _page("problems", rows, store.count_problems(statuses), limit, offset)


def _problem_json(problem: Problem) -> dict:
    return {**dataclasses.asdict(problem), "mtbf": problem.mtbf}


async def problem(request: web.Request) -> web.Response:
    """One problem: its record, its latest incidents, oldest of them first
    (``incident_ids`` lists them all), and its latest timeline entries (it takes one per
    recurrence; the totals say how many there are)."""
    store = context(request).store
    problem_id = _row_id(request, "problem")
    found = _found(store.problem(problem_id), "problem", problem_id)
    latest = store.problem_incidents(problem_id, DETAIL_ROWS)
    timeline = store.problem_timeline(problem_id, DETAIL_ROWS)
    return web.json_response(
        {
            "problem": _problem_json(found),
            "incident_ids": store.problem_incident_ids(problem_id),
            "incidents": [_jsonable(i) for i in reversed(latest)],
            "incidents_total": found.occurrences,
            "timeline": [_jsonable(e) for e in timeline],
            "timeline_total": store.count_problem_timeline(problem_id),
        }
    )


class NoteBody(StrictModel):
    """A work note, as PagerDuty's incident notes take one: its text and who wrote it."""

    content: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=10_000)
    ]
    by: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)] = (
        "api"
    )


async def post_note(request: web.Request) -> web.Response:
    """A work note from a chat bot or another desk, as ``sentinel incidents note`` adds."""
    ctx = context(request)
    incident_id = _row_id(request, "incident")
    _found(ctx.store.incident(incident_id), "incident", incident_id)
    body = await parse_body(request, NoteBody)
    now = ctx.clock()
    try:
        ctx.pipeline.desk.note(incident_id, body.content, body.by, now)
    except DeskError as exc:
        raise Rejected(409, "conflict", str(exc)) from None
    note = {"incident_id": incident_id, "at": format_time(now), "by": body.by}
    return web.json_response({**note, "content": body.content}, status=201)


async def post_change(request: web.Request) -> web.Response:
    ctx = context(request)
    body = await parse_body(request, ChangeRecord)
    try:
        change = body.to_change(ctx.clock())
    except ValueError as exc:
        raise Rejected(400, "invalid_body", str(exc)) from None
    with ctx.store.transaction():
        change_id = ctx.store.add_change(change)
    return web.json_response({"id": change_id}, status=201)


async def get_changes(request: web.Request) -> web.Response:
    store = context(request).store
    limit, offset = page_params(request)
    try:
        since = parse_time(request.query.get("since"), "since") or 0.0
    except ValueError as exc:
        raise Rejected(400, "bad_query", str(exc)) from None
    services = request.query.getall("service", [])
    rows = [
        {**dataclasses.asdict(c), "at": format_time(c.at)}
        for c in store.changes(services, since, limit=limit, offset=offset)
    ]
    return _page("changes", rows, store.count_changes(services, since), limit, offset)


def routes() -> list[web.RouteDef]:
    return [
        web.get("/healthz", healthz),
        web.get("/metrics", metrics),
        web.get("/api/v1/incidents", incidents),
        web.get("/api/v1/incidents/{id}", incident),
        web.get("/api/v1/incidents/{id}/{part:alerts|timeline}", incident_part),
        web.post("/api/v1/incidents/{id}/notes", post_note),
        web.get("/api/v1/problems", problems),
        web.get("/api/v1/problems/{id}", problem),
        web.get("/api/v1/changes", get_changes),
        web.post("/api/v1/changes", post_change),
    ]
