"""DNS: resolution time and whether the answer is what it should be (dnspython)."""

from __future__ import annotations

import time
from typing import Literal

import dns.asyncresolver
import dns.exception
import dns.rdatatype
import dns.resolver
from pydantic import Field, field_validator

from sentinel.collectors.base import Reading, TargetConfig, collectors


class DnsConfig(TargetConfig):
    kind: Literal["dns"] = "dns"
    query: str
    record_type: str = "A"
    server: str | None = Field(None, description="resolver address; default: the system's")
    port: int = Field(53, ge=1, le=65535)
    expect: list[str] = Field(default_factory=list, description="answers that must be present")

    @field_validator("record_type")
    @classmethod
    def _known_type(cls, value: str) -> str:
        try:
            dns.rdatatype.from_text(value)
        except dns.rdatatype.UnknownRdatatype:
            raise ValueError(f"unknown DNS record type {value!r}") from None
        return value.upper()


@collectors.register("dns")
class DnsCollector:
    Config = DnsConfig

    def __init__(self, config: DnsConfig) -> None:
        self.config = config
        self._resolver = dns.asyncresolver.Resolver(configure=config.server is None)
        if config.server is not None:
            self._resolver.nameservers = [config.server]
        self._resolver.port = config.port
        self._resolver.lifetime = config.timeout

    async def read(self) -> Reading:
        reading = Reading()
        started = time.perf_counter()
        try:
            answer = await self._resolver.resolve(self.config.query, self.config.record_type)
        except dns.resolver.NXDOMAIN:
            return reading.fail("answer", f"{self.config.query} does not exist (NXDOMAIN)")
        except dns.resolver.NoAnswer:
            return reading.fail("answer", f"no {self.config.record_type} record")
        except dns.exception.DNSException as exc:
            return reading.fail("connect", f"lookup failed: {exc}")
        reading.add("dns_lookup_seconds", time.perf_counter() - started)
        got = {rdata.to_text().rstrip(".") for rdata in answer}
        reading.add("dns_answers", len(got))
        missing = sorted(set(e.rstrip(".") for e in self.config.expect) - got)
        if self.config.expect:
            reading.add("dns_answer_match", float(not missing))
        if missing:
            reading.fail("answer", f"answer {sorted(got)} lacks {missing}")
        return reading

    async def close(self) -> None:
        return None
