"""Service-desk KPIs over a period: how fast incidents were taken and fixed, whether SLAs held,
how often escalation and reopening were needed, where the volume came from.

``build_report`` reads the store; ``as_json``, ``as_csv`` and ``as_html`` render it, and
``plot`` draws the volume and MTTR trends (matplotlib, PNG). Times are seconds.
"""

from __future__ import annotations

import base64
import csv
import html
import io
import json
import statistics
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

from sentinel.model import Incident
from sentinel.store import Store
from sentinel.tickets.policy import PRIORITIES

DAY = 86400.0


@dataclass
class PriorityFigures:
    incidents: int = 0
    sla_met: int = 0  # of those whose SLA could be judged (resolved, or a deadline passed)
    sla_judged: int = 0

    @property
    def sla_compliance(self) -> float | None:
        return self.sla_met / self.sla_judged if self.sla_judged else None


@dataclass
class Report:
    since: float
    until: float
    service: str
    incidents: int = 0
    acknowledged: int = 0
    resolved: int = 0
    mtta: float | None = None
    mttr: float | None = None
    median_tta: float | None = None
    median_ttr: float | None = None
    escalated: int = 0
    resolved_without_escalation: int = 0
    reopened: int = 0
    by_priority: dict[str, PriorityFigures] = field(default_factory=dict)
    per_day: dict[str, int] = field(default_factory=dict)
    mttr_per_day: dict[str, float] = field(default_factory=dict)
    per_service: dict[str, int] = field(default_factory=dict)
    top_causes: list[tuple[str, int]] = field(default_factory=list)

    def rate(self, count: int, of: int | None = None) -> float | None:
        whole = self.incidents if of is None else of
        return count / whole if whole else None

    def kpis(self) -> dict[str, float | int | None]:
        """The headline figures, by name (what ``table`` and ``csv`` print)."""
        return {
            "incidents": self.incidents,
            "mtta_seconds": self.mtta,
            "mttr_seconds": self.mttr,
            "median_tta_seconds": self.median_tta,
            "median_ttr_seconds": self.median_ttr,
            "escalation_rate": self.rate(self.escalated),
            "resolved_without_escalation": self.rate(
                self.resolved_without_escalation, self.resolved
            ),
            "reopen_rate": self.rate(self.reopened),
        }


def _day(ts: float) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(ts))


def _mean(values: list[float]) -> float | None:
    return statistics.fmean(values) if values else None


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def build_report(store: Store, since: float, until: float, service: str = "") -> Report:
    """KPIs of the incidents opened in [since, until), optionally only those touching
    ``service``."""
    incidents = [
        i
        for i in store.incidents_opened_between(since, until)
        if not service or service in i.services
    ]
    report = Report(since, until, service, incidents=len(incidents))
    kinds = store.timeline_kinds([i.id for i in incidents])
    tickets = {t.incident_id: t for t in store.tickets_of([i.id for i in incidents])}
    tta = [i.acknowledged_at - i.created_at for i in incidents if i.acknowledged_at]
    ttr = [i.resolved_at - i.created_at for i in incidents if i.resolved_at]
    report.acknowledged, report.resolved = len(tta), len(ttr)
    report.mtta, report.mttr = _mean(tta), _mean(ttr)
    report.median_tta, report.median_ttr = _median(tta), _median(ttr)
    report.by_priority = {p: PriorityFigures() for p in PRIORITIES}
    ttr_by_day: dict[str, list[float]] = {}
    causes: Counter[str] = Counter()
    for incident in incidents:
        seen = kinds.get(incident.id, set())
        escalated = "escalated" in seen
        report.escalated += escalated
        report.reopened += "reopened" in seen
        if incident.resolved_at and not escalated:
            report.resolved_without_escalation += 1
        _judge_sla(report.by_priority[incident.priority], incident, tickets.get(incident.id), until)
        day = _day(incident.created_at)
        report.per_day[day] = report.per_day.get(day, 0) + 1
        if incident.resolved_at:
            ttr_by_day.setdefault(day, []).append(incident.resolved_at - incident.created_at)
        for name in incident.services:
            report.per_service[name] = report.per_service.get(name, 0) + 1
        if incident.root_causes:
            causes[incident.root_causes[0].signature] += 1
    report.mttr_per_day = {d: statistics.fmean(v) for d, v in sorted(ttr_by_day.items())}
    report.per_day = dict(sorted(report.per_day.items()))
    report.per_service = dict(sorted(report.per_service.items(), key=lambda kv: (-kv[1], kv[0])))
    report.top_causes = causes.most_common(10)
    return report


def _judge_sla(figures: PriorityFigures, incident: Incident, ticket, until: float) -> None:
    """An SLA is judged once the incident resolved or a deadline passed; it is met when
    neither the acknowledge nor the resolve deadline was breached."""
    figures.incidents += 1
    if ticket is None:
        return
    breached = ticket.ack_breached or ticket.resolve_breached
    if breached or incident.resolved_at or ticket.resolve_due <= until:
        figures.sla_judged += 1
        figures.sla_met += not breached


def as_json(report: Report) -> str:
    data = asdict(report)
    data["kpis"] = report.kpis()
    for priority, figures in report.by_priority.items():
        data["by_priority"][priority]["sla_compliance"] = figures.sla_compliance
    return json.dumps(data, indent=2)


def rows(report: Report) -> list[tuple[str, str, str]]:
    """Every figure as (section, key, value): the CSV, and what the HTML tables hold."""
    out = [("kpi", k, "" if v is None else f"{v:g}") for k, v in report.kpis().items()]
    for priority, figures in report.by_priority.items():
        compliance = figures.sla_compliance
        out.append(("sla_compliance", priority, "" if compliance is None else f"{compliance:g}"))
    out += [("volume_per_day", d, str(n)) for d, n in report.per_day.items()]
    out += [("mttr_per_day_seconds", d, f"{v:g}") for d, v in report.mttr_per_day.items()]
    out += [("volume_per_service", s, str(n)) for s, n in report.per_service.items()]
    out += [("top_root_causes", c, str(n)) for c, n in report.top_causes]
    return out


def as_csv(report: Report) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(("section", "key", "value"))
    writer.writerows(rows(report))
    return buffer.getvalue()


def plot(report: Report, directory: Path) -> list[Path]:
    """Volume per day and MTTR per day as PNG files in ``directory``."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, series, ylabel in (
        ("volume.png", report.per_day, "incidents opened"),
        ("mttr.png", {d: v / 3600 for d, v in report.mttr_per_day.items()}, "MTTR (hours)"),
    ):
        figure, axes = plt.subplots(figsize=(8, 3.5))
        try:
            days = list(series)
            if name == "volume.png":
                axes.bar(days, list(series.values()), color="#4c72b0")
            else:
                axes.plot(days, list(series.values()), marker="o", color="#dd8452")
            axes.set_ylabel(ylabel)
            axes.tick_params(axis="x", labelrotation=45, labelsize=7)
            axes.set_title(f"{ylabel}, {_day(report.since)} to {_day(report.until)}")
            figure.tight_layout()
            path = directory / name
            figure.savefig(path, format="png")
            written.append(path)
        finally:
            plt.close(figure)
    return written


def as_html(report: Report, plots: list[Path]) -> str:
    """One self-contained page: the figures as tables, the plots inlined."""
    sections: dict[str, list[tuple[str, str]]] = {}
    for section, key, value in rows(report):
        sections.setdefault(section, []).append((key, value))
    parts = [
        "<!doctype html><meta charset='utf-8'><title>sentinel report</title>",
        f"<h1>sentinel report {_day(report.since)} – {_day(report.until)}"
        + (f" · {html.escape(report.service)}" if report.service else "")
        + "</h1>",
    ]
    for section, entries in sections.items():
        parts.append(f"<h2>{html.escape(section.replace('_', ' '))}</h2><table>")
        parts += [
            f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in entries
        ]
        parts.append("</table>")
    for path in plots:
        data = base64.b64encode(path.read_bytes()).decode()
        parts.append(f"<p><img alt='{path.stem}' src='data:image/png;base64,{data}'></p>")
    return "\n".join(parts) + "\n"
