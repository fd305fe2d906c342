"""sentinel's own metrics, on a registry passed in (never the process-global one)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class Metrics:
    """Every counter the daemon exposes on ``/metrics``, created on one registry."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.samples = Counter(
            "sentinel_samples_collected", "Samples read from targets", ["kind"], registry=r
        )
        self.poll_failures = Counter(
            "sentinel_poll_failures",
            "Polls that left a target down, by class of reason",
            ["target", "reason"],
            registry=r,
        )
        self.poll_lag = Histogram(
            "sentinel_poll_lag_seconds",
            "Delay between a poll's schedule and its start",
            buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
            registry=r,
        )
        self.alerts = Counter(
            "sentinel_alert_transitions", "Alerts fired or resolved", ["status"], registry=r
        )
        self.incidents = Counter(
            "sentinel_incidents_opened", "Incidents opened", ["priority"], registry=r
        )
        self.incidents_open = Gauge(
            "sentinel_incidents_unresolved", "Incidents not yet resolved", registry=r
        )
        self.escalations = Counter("sentinel_escalations", "Escalation steps taken", registry=r)
        self.sla_breaches = Counter(
            "sentinel_sla_breaches", "SLA deadlines missed", ["kind"], registry=r
        )
        self.deliveries = Counter(
            "sentinel_deliveries", "Outbox delivery attempts", ["sink", "result"], registry=r
        )
        self.outbox_pending = Gauge(
            "sentinel_outbox_pending", "Deliveries waiting in the outbox", registry=r
        )
        self.store_commits = Histogram(
            "sentinel_store_commit_seconds",
            "Time each durable store commit took (the write-ahead log's fsync)",
            buckets=(0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1, 1),
            registry=r,
        )
        self.rejected_requests = Counter(
            "sentinel_api_rejected_requests", "API requests refused", ["reason"], registry=r
        )
