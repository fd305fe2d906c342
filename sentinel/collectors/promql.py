"""PromQL instant queries against a Prometheus-compatible API (Prometheus, Thanos, Mimir,
VictoriaMetrics): how sentinel watches more than it could poll itself."""

from __future__ import annotations

import asyncio
from typing import Any, Literal

import aiohttp
from pydantic import Field

from sentinel.collectors.base import Reading, TargetConfig, collectors
from sentinel.schema import StrictModel


class QueryConfig(StrictModel):
    name: str = Field(description="metric name the results are stored under")
    query: str


class PromqlConfig(TargetConfig):
    kind: Literal["promql"] = "promql"
    url: str = Field(description="base URL, e.g. http://127.0.0.1:9090")
    queries: list[QueryConfig] = Field(min_length=1)


class QueryError(Exception):
    """The API answered, but not with a usable result."""


@collectors.register("promql")
class PromqlCollector:
    Config = PromqlConfig

    def __init__(self, config: PromqlConfig) -> None:
        self.config = config
        self._session: aiohttp.ClientSession | None = None

    async def read(self) -> Reading:
        if self._session is None:
            self._session = aiohttp.ClientSession()
        reading = Reading()
        results = await asyncio.gather(
            *(self._query(q.query) for q in self.config.queries), return_exceptions=True
        )
        failures = []
        for query, result in zip(self.config.queries, results, strict=True):
            if isinstance(result, aiohttp.ClientError | QueryError | ValueError):
                failures.append(f"{query.name}: {result}")
                continue
            if isinstance(result, BaseException):
                raise result
            for labels, value in result:
                reading.add(query.name, value, labels)
        if failures:
            reading.fail("query", "; ".join(failures))
        return reading

    async def _query(self, query: str) -> list[tuple[dict[str, str], float]]:
        assert self._session is not None
        async with self._session.get(
            f"{self.config.url.rstrip('/')}/api/v1/query",
            params={"query": query},
            timeout=aiohttp.ClientTimeout(total=self.config.timeout),
        ) as response:
            body: dict[str, Any] = await response.json(content_type=None)
        if body.get("status") != "success":
            raise QueryError(body.get("error") or f"HTTP status {response.status}")
        data = body["data"]
        if data["resultType"] == "scalar":
            return [({}, float(data["result"][1]))]
        if data["resultType"] != "vector":
            raise QueryError(
                f"{data['resultType']} results are not supported; use an instant vector"
            )
        return [
            ({k: v for k, v in item["metric"].items() if k != "__name__"}, float(item["value"][1]))
            for item in data["result"]
        ]

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
