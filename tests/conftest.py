from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.helpers.servers import TargetServer, WebhookReceiver


@pytest.fixture
def target():
    with TargetServer() as server:
        yield server


@pytest.fixture
def receiver():
    with WebhookReceiver() as server:
        yield server


def write_rules(directory: Path, **sections: object) -> Path:
    """A configuration directory with one YAML file holding the given sections."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "sentinel.yaml").write_text(yaml.safe_dump(sections, sort_keys=False))
    return directory


def pipeline_rules(
    directory: Path, target: TargetServer, receiver: WebhookReceiver, escalate_after: str
) -> Path:
    """One HTTP target on service `web` (tier 1), down → critical alert, two-level policy."""
    return write_rules(
        directory,
        server={"tick": "100ms"},
        targets=[
            {
                "name": "web",
                "kind": "http",
                "url": target.url,
                "interval": "200ms",
                "timeout": "2s",
                "labels": {"service": "web"},
            }
        ],
        rules=[
            {
                "name": "TargetDown",
                "metric": "up",
                "op": "==",
                "threshold": 0,
                "for": "400ms",
                "severity": "critical",
                "annotations": {"summary": "{target} is down"},
            }
        ],
        services=[{"name": "web", "tier": 1, "escalation_policy": "oncall"}],
        escalation_policies=[
            {
                "name": "oncall",
                "levels": [
                    {"notify": [receiver.url("level1")], "escalate_after": escalate_after},
                    {"notify": [receiver.url("level2")], "escalate_after": "30m"},
                ],
            }
        ],
    )
