"""Prometheus exporters: scrape ``/metrics`` (text exposition format), filter, keep labels.

Parsing uses prometheus_client's parser; ``benchmarks/collect.py`` measures it against the
payload sizes of a node_exporter. A label that clashes with a target label is kept as
``exported_<name>``, as Prometheus does without ``honor_labels``.
"""

from __future__ import annotations

import math
import re
from typing import Literal

import aiohttp
from prometheus_client.parser import text_string_to_metric_families
from pydantic import Field, field_validator

from sentinel.collectors.base import Reading, TargetConfig, collectors

MAX_BODY = 32 << 20


class PrometheusConfig(TargetConfig):
    kind: Literal["prometheus"] = "prometheus"
    url: str
    include: list[str] = Field(default_factory=list, description="metric name regexes to keep")
    exclude: list[str] = Field(default_factory=list, description="metric name regexes to drop")
    match_labels: dict[str, str] = Field(default_factory=dict)

    @field_validator("include", "exclude")
    @classmethod
    def _compiles(cls, patterns: list[str]) -> list[str]:
        for pattern in patterns:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"{pattern!r} does not compile: {exc}") from None
        return patterns


def _any(patterns: list[str]) -> re.Pattern[str] | None:
    return re.compile("|".join(f"(?:{p})" for p in patterns)) if patterns else None


@collectors.register("prometheus")
class PrometheusCollector:
    Config = PrometheusConfig

    def __init__(self, config: PrometheusConfig) -> None:
        self.config = config
        self._include = _any(config.include)
        self._exclude = _any(config.exclude)
        self._reserved = {"target", "up", *config.labels}
        self._session: aiohttp.ClientSession | None = None

    async def read(self) -> Reading:
        if self._session is None:
            self._session = aiohttp.ClientSession()
        reading = Reading()
        try:
            async with self._session.get(
                self.config.url,
                headers={"Accept": "text/plain;version=0.0.4"},
                timeout=aiohttp.ClientTimeout(total=self.config.timeout),
            ) as response:
                if response.status != 200:
                    return reading.fail("status", f"HTTP status {response.status}")
                raw = bytearray()
                async for chunk in response.content.iter_chunked(1 << 16):
                    raw += chunk
                    if len(raw) > MAX_BODY:
                        return reading.fail("parse", f"exposition over {MAX_BODY >> 20} MiB")
        except aiohttp.ClientError as exc:
            return reading.fail("connect", f"scrape failed: {exc}")
        try:
            self.parse(raw.decode("utf-8", errors="replace"), reading)
        except (ValueError, TypeError, IndexError) as exc:
            return reading.fail("parse", f"malformed exposition: {exc}")
        return reading

    def parse(self, text: str, reading: Reading) -> None:
        keep_all = self._include is None and self._exclude is None and not self.config.match_labels
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                name = sample.name
                if not keep_all and not self._wanted(name, sample.labels):
                    continue
                if math.isnan(sample.value):
                    continue
                labels = {
                    (f"exported_{k}" if k in self._reserved else k): v
                    for k, v in sample.labels.items()
                }
                reading.add(name, sample.value, labels)

    def _wanted(self, name: str, labels: dict[str, str]) -> bool:
        if self._include is not None and not self._include.fullmatch(name):
            return False
        if self._exclude is not None and self._exclude.fullmatch(name):
            return False
        return all(labels.get(k) == v for k, v in self.config.match_labels.items())

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
