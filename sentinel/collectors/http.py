"""HTTP(S) endpoints: status, latency, body match, redirects and TLS certificate expiry."""

from __future__ import annotations

import re
import ssl
import time
from typing import Literal

import aiohttp
from cryptography import x509
from pydantic import Field, field_validator

from sentinel.collectors.base import Reading, TargetConfig, collectors


class HttpConfig(TargetConfig):
    kind: Literal["http"] = "http"
    url: str
    method: Literal["GET", "HEAD", "POST"] = "GET"
    expect_status: list[int] = Field(default_factory=lambda: list(range(200, 400)))
    body_regex: str | None = None
    follow_redirects: bool = True
    verify_tls: bool = True

    @field_validator("url")
    @classmethod
    def _http_url(cls, url: str) -> str:
        if not re.match(r"^https?://[^/\s]+", url):
            raise ValueError(f"{url!r} is not an http:// or https:// URL")
        return url

    @field_validator("body_regex")
    @classmethod
    def _compiles(cls, pattern: str | None) -> str | None:
        if pattern is not None:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"body_regex does not compile: {exc}") from None
        return pattern


def certificate_days_left(ssl_object: ssl.SSLObject | None, now: float) -> float | None:
    """Days until the peer certificate expires (read even when verification is off)."""
    if ssl_object is None:
        return None
    der = ssl_object.getpeercert(binary_form=True)
    if not der:
        return None
    expires = x509.load_der_x509_certificate(der).not_valid_after_utc.timestamp()
    return (expires - now) / 86400


@collectors.register("http")
class HttpCollector:
    Config = HttpConfig

    def __init__(self, config: HttpConfig) -> None:
        self.config = config
        self._body = re.compile(config.body_regex) if config.body_regex else None
        self._session: aiohttp.ClientSession | None = None

    async def read(self) -> Reading:
        if self._session is None:
            connector = aiohttp.TCPConnector(ssl=None if self.config.verify_tls else False)
            self._session = aiohttp.ClientSession(connector=connector)
        reading = Reading()
        started = time.perf_counter()
        try:
            async with self._session.request(
                self.config.method,
                self.config.url,
                allow_redirects=self.config.follow_redirects,
                timeout=aiohttp.ClientTimeout(total=self.config.timeout),
            ) as response:
                transport = response.connection.transport if response.connection else None
                days = certificate_days_left(
                    transport.get_extra_info("ssl_object") if transport else None, time.time()
                )
                body = await response.text(errors="replace") if self._body else ""
        except aiohttp.ClientError as exc:
            return reading.fail("connect", f"request failed: {exc}")
        reading.add("http_duration_seconds", time.perf_counter() - started)
        reading.add("http_status_code", response.status)
        reading.add("http_redirects", len(response.history))
        if days is not None:
            reading.add("http_tls_cert_days_left", days)
        if response.status not in self.config.expect_status:
            reading.fail("status", f"HTTP status {response.status}")
        if self._body is not None:
            matched = bool(self._body.search(body))
            reading.add("http_body_match", float(matched))
            if not matched and reading.failure is None:
                reading.fail("content", f"body does not match {self.config.body_regex!r}")
        return reading

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
