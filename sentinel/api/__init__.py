"""The daemon's HTTP API, on the daemon's own loop.

Routes come from one module per family (``alertmanager``, ``pagerduty``, ``desk``). One
middleware guards them all: writes need the bearer token, a slow request times out, and
every refusal gets its 4xx with a reason and is counted in
``sentinel_api_rejected_requests_total{reason}``.
"""

from __future__ import annotations

import asyncio
import hmac
import json
from collections.abc import Awaitable, Callable

from aiohttp import web

from sentinel.api import alertmanager, desk, pagerduty
from sentinel.api.base import CONTEXT, ApiContext, Rejected

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Authenticated by their own scheme (PagerDuty's routing key), not the bearer header.
OWN_AUTH = frozenset({"/v2/enqueue"})
_STATUS_REASON = {404: "not_found", 405: "method_not_allowed", 413: "too_large"}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _refusal(request: web.Request, status: int, reason: str, detail: str) -> web.Response:
    request.app[CONTEXT].metrics.rejected_requests.labels(reason).inc()
    # Alertmanager's API documents its errors as a JSON string; ours as an object.
    body = detail if request.path.startswith("/api/v2/") else {"error": detail}
    return web.Response(status=status, text=json.dumps(body), content_type="application/json")


def _authorised(request: web.Request, token: str) -> bool:
    scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(
        credentials.strip().encode(), token.encode()
    )


def build_app(ctx: ApiContext, max_body: int = 8 << 20, timeout: float = 30.0) -> web.Application:
    @web.middleware
    async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            if (
                request.method in WRITE_METHODS
                and request.path not in OWN_AUTH
                and not _authorised(request, ctx.token)
            ):
                raise Rejected(401, "unauthorized", "writes need 'Authorization: Bearer <token>'")
            async with asyncio.timeout(timeout):  # no task of its own, unlike wait_for
                return await handler(request)
        except Rejected as exc:
            return _refusal(request, exc.status, exc.reason, exc.detail)
        except web.HTTPException as exc:
            if not 400 <= exc.status < 500:
                raise
            reason = _STATUS_REASON.get(exc.status, f"http_{exc.status}")
            return _refusal(request, exc.status, reason, exc.reason)
        except TimeoutError:
            return _refusal(request, 408, "timeout", f"request took longer than {timeout:g}s")

    app = web.Application(middlewares=[guard], client_max_size=max_body)
    app[CONTEXT] = ctx
    app.add_routes([*alertmanager.routes(), *pagerduty.routes(), *desk.routes()])
    return app


__all__ = ["ApiContext", "build_app"]
