"""A generic JSON webhook, signed so the receiver can trust it.

Every event POSTs the incident payload. ``X-Sentinel-Signature: sha256=<hex>`` is the
HMAC-SHA256 of the exact body under the configured secret (GitHub's scheme), and
``Idempotency-Key`` carries the outbox dedup key, so a receiver can drop the repeat that
at-least-once delivery may bring.
"""

from __future__ import annotations

import hashlib
import hmac
import json

from pydantic import Field

from sentinel.store import OutboxRow
from sentinel.tickets.external import ExternalConfig, ExternalDesk, external_desks


class WebhookConfig(ExternalConfig):
    secret: str = Field("", description="HMAC key; empty sends unsigned")


def signature(secret: str, body: bytes) -> str:
    """``sha256=`` and the hex HMAC-SHA256 of ``body``.

    >>> signature("key", b"{}")
    'sha256=a777724d943eb48dc69bca8a4a6d57a04db3f9ec7e1de4e581e860265bdf3032'
    """
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@external_desks.register("webhook")
class WebhookDesk(ExternalDesk):
    Config = WebhookConfig
    config: WebhookConfig

    async def deliver(self, row: OutboxRow) -> None:
        body = json.dumps(json.loads(row.body), sort_keys=True).encode()
        headers = {
            "Content-Type": "application/json",
            "X-Sentinel-Event": json.loads(row.body)["event"],
            "Idempotency-Key": row.dedup_key,
        }
        if self.config.secret:
            headers["X-Sentinel-Signature"] = signature(self.config.secret, body)
        async with self.open_session():
            await self.call("POST", self.config.url, data=body, headers=headers)
