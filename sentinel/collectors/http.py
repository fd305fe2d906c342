"""HTTP(S) endpoints: status, latency, body match, redirects and TLS certificate expiry."""

from __future__ import annotations

import asyncio
import re
import ssl
import time
from typing import Literal

import aiohttp
from cryptography import x509
from pydantic import Field, field_validator
from yarl import URL

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


CERT_RECHECK = 3600.0  # a certificate's expiry date rarely changes: look once an hour


async def certificate_expiry(url: URL, timeout: float) -> float:
    """Unix time the server's certificate expires, read without verifying it (verification,
    when on, is the request's job; this only reports the date)."""
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    _, writer = await asyncio.wait_for(
        asyncio.open_connection(url.host, url.port, ssl=context, server_hostname=url.host),
        timeout,
    )
    try:
        der = writer.get_extra_info("ssl_object").getpeercert(binary_form=True)
    finally:
        writer.close()
    return x509.load_der_x509_certificate(der).not_valid_after_utc.timestamp()


@collectors.register("http")
class HttpCollector:
    Config = HttpConfig

    def __init__(self, config: HttpConfig) -> None:
        self.config = config
        self._body = re.compile(config.body_regex) if config.body_regex else None
        self._session: aiohttp.ClientSession | None = None
        self._cert_expires: float | None = None
        self._cert_checked_at = float("-inf")

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
                body = await response.text(errors="replace") if self._body else ""
        except aiohttp.ClientError as exc:
            return reading.fail("connect", f"request failed: {exc}")
        days = await self._certificate_days_left()
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

    async def _certificate_days_left(self) -> float | None:
        url = URL(self.config.url)
        if url.scheme != "https":
            return None
        now = time.time()
        if now - self._cert_checked_at >= CERT_RECHECK:
            try:
                self._cert_expires = await certificate_expiry(url, self.config.timeout)
            except (OSError, TimeoutError, ValueError):
                self._cert_expires = None
            self._cert_checked_at = now
        return None if self._cert_expires is None else (self._cert_expires - now) / 86400

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
