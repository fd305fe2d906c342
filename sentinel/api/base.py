"""What every endpoint shares: its context, strict body parsing and counted rejections.

A handler either returns a response or raises ``Rejected``; the middleware in
``sentinel.api`` turns that (and aiohttp's own 4xx, such as an oversized body) into the
right status with a reason, and counts it. Bodies are validated completely before anything
is written, and writes happen in one store transaction, so a rejected request stores nothing.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

import msgspec
from aiohttp import web
from pydantic import BaseModel, ValidationError

from sentinel.api.intake import AlertIntake
from sentinel.metrics import Metrics
from sentinel.model import items_fingerprint
from sentinel.pipeline import Pipeline
from sentinel.schema import describe
from sentinel.store import Store

MAX_OFFSET = 10**9
LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
Model = TypeVar("Model", bound=BaseModel)
Decoded = TypeVar("Decoded")


@dataclass
class ApiContext:
    store: Store
    pipeline: Pipeline
    metrics: Metrics
    clock: Callable[[], float]
    health: Callable[[], dict[str, Any]]
    token: str
    resolve_timeout: float
    started_at: float
    config_summary: str = ""
    intake: AlertIntake = field(init=False)

    def __post_init__(self) -> None:
        self.intake = AlertIntake(self.pipeline, self.clock)


CONTEXT: web.AppKey[ApiContext] = web.AppKey("context", ApiContext)


class Rejected(Exception):
    """A request refused with a 4xx status, a short reason class (for counting) and detail."""

    def __init__(self, status: int, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.status, self.reason, self.detail = status, reason, detail


def context(request: web.Request) -> ApiContext:
    return request.app[CONTEXT]


async def parse_body(request: web.Request, model: type[Model]) -> Model:
    """The JSON body validated against ``model``, or ``Rejected`` saying what is wrong."""
    raw = await request.read()
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        broken = [e["msg"] for e in exc.errors() if e["type"] == "json_invalid"]
        if broken:
            raise Rejected(400, "invalid_json", f"body is not valid JSON: {broken[0]}") from None
        raise Rejected(400, "invalid_body", describe(exc)) from None


async def decode_body(request: web.Request, decoder: msgspec.json.Decoder[Decoded]) -> Decoded:
    """``parse_body`` for the alert intake's bodies, which come by the thousand a second:
    msgspec decodes and type-checks them in one pass, under half pydantic's time."""
    raw = await request.read()
    try:
        return decoder.decode(raw)
    except msgspec.ValidationError as exc:  # a DecodeError too: the order matters
        raise Rejected(400, "invalid_body", str(exc)) from None
    except msgspec.DecodeError as exc:
        raise Rejected(400, "invalid_json", f"body is not valid JSON: {exc}") from None


def format_time(ts: float | None) -> str:
    """Unix seconds to RFC 3339 (UTC, milliseconds); None as Go's zero time."""
    if ts is None:
        return "0001-01-01T00:00:00.000Z"
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def checked_fingerprint(labels: dict[str, str]) -> str:
    """The fingerprint of a pushed alert's labels, once their names are found valid
    (ValueError if not): both in one cached step per label set, as senders re-send."""
    return _checked_fingerprint(tuple(labels.items()))


@functools.lru_cache(maxsize=16384)
def _checked_fingerprint(items: tuple[tuple[str, str], ...]) -> str:
    bad = _invalid_label_name(tuple([name for name, _ in items]))
    if bad is not None:
        raise ValueError(f"labels: invalid label name {bad!r}")
    return items_fingerprint.__wrapped__(items)  # cached here already: not twice


def check_labels(labels: dict[str, str], what: str) -> dict[str, str]:
    bad = _invalid_label_name(tuple(labels))
    if bad is not None:
        raise ValueError(f"{what}: invalid label name {bad!r}")
    return labels


@functools.lru_cache(maxsize=4096)  # senders use a few sets of names over and over
def _invalid_label_name(names: tuple[str, ...]) -> str | None:
    return next((name for name in names if LABEL_NAME.match(name) is None), None)


def page_params(request: web.Request, default: int = 100, most: int = 500) -> tuple[int, int]:
    try:
        limit = int(request.query.get("limit", default))
        offset = int(request.query.get("offset", 0))
    except ValueError:
        raise Rejected(400, "bad_query", "limit and offset must be whole numbers") from None
    if not 1 <= limit <= most or not 0 <= offset <= MAX_OFFSET:
        raise Rejected(400, "bad_query", f"limit must be 1..{most} and offset 0..{MAX_OFFSET}")
    return limit, offset
