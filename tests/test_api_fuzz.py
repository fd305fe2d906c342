"""Property tests over every endpoint: generated requests, near-valid and hostile, never get
a 5xx, never crash the server, and a refused request stores nothing.

The case count defaults to 100,000 requests over all endpoints (``SENTINEL_FUZZ_CASES``
changes it): each generated body is sent as is and as four cases derived from it.
Generation is derandomised, so a run is repeatable.
"""

from __future__ import annotations

import asyncio
import json
import os
import string
import tempfile
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from tests.conftest import write_rules
from tests.helpers.api import AUTH, TOKEN, Clock, make_daemon

TOTAL = int(os.environ.get("SENTINEL_FUZZ_CASES", "100000"))
ENDPOINTS = 8
CASES = max(1, TOTAL // ENDPOINTS)

VARIANTS = 5  # requests sent per generated body by ``Harness.send_variants``
body_fuzz = settings(
    max_examples=max(1, CASES // VARIANTS),
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
fuzz = settings(
    max_examples=CASES,
    phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink],
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)


class Harness:
    """One daemon's API on a loopback socket, kept across examples for speed."""

    def __init__(self) -> None:
        base = Path("/dev/shm") if Path("/dev/shm").is_dir() else None
        self.tmp = tempfile.TemporaryDirectory(dir=base)
        rules = write_rules(
            Path(self.tmp.name) / "rules",
            server={"max_body": 65536},
            services=[{"name": "db", "tier": 1}, {"name": "api", "depends_on": ["db"]}],
            escalation_policies=[
                {"name": "default", "levels": [{"notify": ["json://127.0.0.1:9/x"]}]}
            ],
        )
        self.clock = Clock()
        self.daemon = make_daemon(Path(self.tmp.name), rules, self.clock)
        self.loop = asyncio.new_event_loop()
        self.client = TestClient(
            TestServer(self.daemon.api(TOKEN), host="127.0.0.1"), loop=self.loop
        )
        self.loop.run_until_complete(self.client.start_server())
        self.cases = 0

    def send(self, method: str, path: str, **kwargs) -> int:
        """Send one request; assert the server's promises; return the status."""
        before = self.daemon.store.rows_written
        self.clock.now += 1

        async def go() -> int:
            response = await self.client.request(method, path, **kwargs)
            await response.read()
            return response.status

        status = self.loop.run_until_complete(go())
        self.cases += 1
        assert status < 500, f"{method} {path} {kwargs} -> {status}"
        if status >= 400:
            written = self.daemon.store.rows_written - before
            assert written == 0, f"refused {method} {path} but wrote {written} rows"
        return status

    def send_variants(self, path: str, data: object, headers: dict[str, str]) -> None:
        """The generated body, then four cases derived from it: without credentials,
        cut in half, wrapped in the wrong container, and with its first value nulled."""
        raw = json.dumps(data).encode()
        self.send("POST", path, json=data, headers=headers)
        self.send("POST", path, json=data)
        self.send(
            "POST",
            path,
            data=raw[: len(raw) // 2],
            headers={**headers, "Content-Type": "application/json"},
        )
        self.send(
            "POST",
            path,
            json={"items": data} if isinstance(data, list) else [data],
            headers=headers,
        )
        self.send("POST", path, json=null_first(data), headers=headers)

    def close(self) -> None:
        self.loop.run_until_complete(self.client.close())
        self.loop.close()
        self.daemon.store.close()
        self.tmp.cleanup()


def null_first(data: object) -> object:
    if isinstance(data, dict) and data:
        first = next(iter(data))
        return {**data, first: None}
    if isinstance(data, list) and data:
        return [None, *data[1:]]
    return None


@pytest.fixture(scope="module")
def harness():
    h = Harness()
    yield h
    h.close()


# -- building blocks ------------------------------------------------------------------------

json_scalars = (
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=12,
)
label_names = st.sampled_from(
    ["alertname", "service", "severity", "env", "bad-name", "", "0x", "__name__"]
) | st.text(string.ascii_letters + "_", max_size=8)
label_values = st.sampled_from(["db", "api", "critical", "warning", ""]) | st.text(max_size=20)
labels = st.dictionaries(label_names, label_values | json_scalars, max_size=5)
times = (
    st.sampled_from(
        [
            "2023-11-14T22:13:20Z",
            "2023-11-14T23:13:20.123456789Z",
            "2099-01-01T00:00:00+02:00",
            "2000-01-01T00:00:00Z",
            "0001-01-01T00:00:00Z",
            "2024-13-45T99:99:99Z",
            "2024-01-01",
            "yesterday",
            "",
        ]
    )
    | st.text(max_size=25)
    | st.integers()
)


def maybe(key: str, values: st.SearchStrategy) -> st.SearchStrategy:
    return st.one_of(st.just({}), values.map(lambda v: {key: v}))


def record(required: dict, optional: dict) -> st.SearchStrategy:
    """A dict with the required keys (sometimes dropped) and some optional ones."""
    parts = [maybe(k, v) for k, v in {**required, **optional}.items()]
    return st.tuples(*parts, st.dictionaries(st.text(max_size=6), json_scalars, max_size=2)).map(
        lambda ds: {k: v for d in ds for k, v in d.items()}
    )


am_alerts = st.lists(
    record(
        {"labels": labels},
        {
            "annotations": labels,
            "startsAt": times,
            "endsAt": times,
            "generatorURL": st.text(max_size=20) | json_scalars,
        },
    ),
    max_size=6,
)
matchers = st.lists(
    record(
        {
            "name": label_names,
            "value": st.text(max_size=10) | json_scalars,
            "isRegex": st.booleans() | json_scalars,
        },
        {"isEqual": st.booleans() | json_scalars},
    ),
    max_size=4,
)
silences = record(
    {
        "matchers": matchers,
        "startsAt": times,
        "endsAt": times,
        "createdBy": st.text(max_size=10),
        "comment": st.text(max_size=10),
    },
    {"id": st.uuids().map(str) | st.text(max_size=8)},
)
webhook_alerts = st.lists(
    record(
        {
            "status": st.sampled_from(["firing", "resolved", "x"]),
            "labels": labels,
            "startsAt": times,
        },
        {"annotations": labels, "endsAt": times, "fingerprint": st.text(max_size=8)},
    ),
    max_size=4,
)
webhooks = record(
    {
        "version": st.sampled_from(["4", "3", 4]),
        "groupKey": st.text(max_size=8),
        "status": st.sampled_from(["firing", "resolved", "?"]),
        "receiver": st.text(max_size=8),
        "alerts": webhook_alerts,
    },
    {
        "truncatedAlerts": st.integers(-2, 5),
        "groupLabels": labels,
        "commonLabels": labels,
        "externalURL": st.text(max_size=10),
    },
)
pd_payloads = record(
    {
        "summary": st.text(max_size=40) | st.text(min_size=1020, max_size=1030),
        "source": st.text(max_size=10),
        "severity": st.sampled_from(["critical", "error", "warning", "info", "x"]),
    },
    {
        "timestamp": times,
        "component": st.sampled_from(["db", "api"]),
        "group": st.text(max_size=5),
        "class": st.text(max_size=5),
        "custom_details": json_values,
    },
)
pd_events = record(
    {
        "routing_key": st.sampled_from([TOKEN, "wrong", ""]),
        "event_action": st.sampled_from(["trigger", "acknowledge", "resolve", "x"]),
    },
    {
        "dedup_key": st.sampled_from(["k1", "k2", ""]) | st.text(max_size=300),
        "payload": pd_payloads,
    },
)
changes = record(
    {
        "service": st.sampled_from(["db", "api", ""]) | json_scalars,
        "summary": st.text(max_size=20) | json_scalars,
    },
    {
        "kind": st.sampled_from(["deploy", "config", "oops"]),
        "at": times,
        "version": st.text(max_size=8),
        "author": st.text(max_size=8),
    },
)
auth_headers = st.sampled_from(
    [
        AUTH,
        AUTH,
        AUTH,
        {},
        {"Authorization": "Bearer nope"},
        {"Authorization": "Basic dXNlcjpwYXNz"},
    ]
)


raw_bodies = st.binary(max_size=200) | st.just(b"x" * 70000) | st.text(max_size=100).map(str.encode)


# -- the properties --------------------------------------------------------------------------


@body_fuzz
@given(data=am_alerts | json_values, headers=auth_headers)
def test_post_alerts(harness, data, headers):
    harness.send_variants("/api/v2/alerts", data, headers)


@body_fuzz
@given(data=silences | json_values, headers=auth_headers)
def test_post_silences(harness, data, headers):
    harness.send_variants("/api/v2/silences", data, headers)


@body_fuzz
@given(data=webhooks | json_values, headers=auth_headers)
def test_post_webhook(harness, data, headers):
    harness.send_variants("/api/v1/webhook/alertmanager", data, headers)


@body_fuzz
@given(data=pd_events | json_values)
def test_post_pagerduty_event(harness, data):
    harness.send_variants("/v2/enqueue", data, {})


@body_fuzz
@given(data=changes | json_values, headers=auth_headers)
def test_post_change(harness, data, headers):
    harness.send_variants("/api/v1/changes", data, headers)


@fuzz
@given(
    path=st.sampled_from(
        [
            "/api/v2/alerts",
            "/api/v2/silences",
            "/api/v1/changes",
            "/api/v1/incidents",
            "/api/v1/problems",
            "/api/v2/status",
        ]
    ),
    params=st.dictionaries(
        st.sampled_from(
            [
                "filter",
                "active",
                "silenced",
                "inhibited",
                "limit",
                "offset",
                "since",
                "service",
                "status",
                "priority",
                "receiver",
            ]
        ),
        st.text(max_size=20) | st.integers().map(str),
        max_size=4,
    ),
)
def test_get_with_query(harness, path, params):
    harness.send("GET", path, params=params)


@fuzz
@given(
    method=st.sampled_from(["GET", "DELETE", "POST", "PUT", "PATCH"]),
    path=st.sampled_from(
        [
            "/api/v2/silence/",
            "/api/v1/incidents/",
            "/api/v1/incidents/1/",
            "/api/v1/problems/",
            "/api/v2/alerts/",
            "/v2/",
            "/",
        ]
    ).flatmap(
        lambda p: st.text(string.ascii_letters + string.digits + "-%._", max_size=40).map(
            lambda s: p + s
        )
    ),
    headers=auth_headers,
)
def test_any_method_any_path(harness, method, path, headers):
    harness.send(method, path, headers=headers)


@fuzz
@given(
    path=st.sampled_from(
        [
            "/api/v2/alerts",
            "/api/v2/silences",
            "/api/v1/webhook/alertmanager",
            "/v2/enqueue",
            "/api/v1/changes",
        ]
    ),
    raw=raw_bodies,
    headers=auth_headers,
)
def test_raw_bodies(harness, path, raw, headers):
    harness.send("POST", path, data=raw, headers={**headers, "Content-Type": "application/json"})


def test_the_run_covered_the_promised_number_of_cases(harness):
    if harness.cases == 0:
        pytest.skip("run together with the property tests above")
    assert harness.cases >= TOTAL - ENDPOINTS * VARIANTS
