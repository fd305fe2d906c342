"""What a notification says: sentinel's default wording, or a template per event.

Templates are ``str.format`` text over a fixed set of fields (``FIELDS``); anything else in
braces is refused when the configuration loads, so a typo is a ``file:line`` error and not
a page that says ``{priorty}`` at 3 a.m.
"""

from __future__ import annotations

import string

from pydantic import field_validator

from sentinel.correlate.problems import SeenBefore
from sentinel.model import Incident, IncidentStatus, Problem, some_of
from sentinel.schema import StrictModel

NAMED_SERVICES = 20  # a page names this many services (a storm's touches thousands)
FIELDS = {
    "id": "incident number",
    "priority": "P1..P5",
    "impact": "1..3",
    "urgency": "1..3",
    "title": "the incident's title",
    "status": "open, acknowledged, resolved, closed",
    "event": "opened, reopened, escalated, sla_breach, acknowledged, resolved, note",
    "headline": "sentinel's wording of the event (OPENED, ESCALATED (level 2), …)",
    "level": "escalation level, from 1",
    "services": f"affected services, comma-separated (the first {NAMED_SERVICES}, how many more)",
    "root_cause": "the likeliest root cause",
    "root_cause_score": "its score, 0..1",
    "evidence": "the evidence for it, one '  - ' line each",
    "workaround": "the known error's workaround, if one matches",
    "seen_before": "earlier incidents with this root cause, and what was last written of them",
    "actor": "who acted (acknowledged/resolved by, wrote the note)",
    "note": "the work note's text (note events; empty for the others)",
    "show": "the command that shows the incident",
    "ack": "the command that acknowledges it (empty once acknowledged)",
}


def check_template(text: str) -> str:
    """Refuse fields that do not exist, and attribute or index access."""
    try:
        parsed = list(string.Formatter().parse(text))
    except ValueError as exc:
        raise ValueError(f"not a valid template: {exc}") from None
    for _, name, _, _ in parsed:
        if name is None:
            continue
        if name not in FIELDS:
            known = ", ".join(FIELDS)
            raise ValueError(f"unknown field {{{name}}} (known: {known})")
    return text


class MessageTemplate(StrictModel):
    title: str | None = None
    body: str | None = None

    @field_validator("title", "body")
    @classmethod
    def _fields(cls, value: str | None) -> str | None:
        return None if value is None else check_template(value)


class TemplatesConfig(StrictModel):
    """A template per desk event; events left out keep sentinel's wording."""

    opened: MessageTemplate | None = None
    reopened: MessageTemplate | None = None
    escalated: MessageTemplate | None = None
    sla_breach: MessageTemplate | None = None
    acknowledged: MessageTemplate | None = None
    resolved: MessageTemplate | None = None
    note: MessageTemplate | None = None


def message_fields(
    incident: Incident,
    event: str,
    actor: str,
    known_error: Problem | None,
    note: str = "",
    seen: SeenBefore | None = None,
) -> dict[str, str]:
    top = incident.root_causes[0] if incident.root_causes else None
    headline = {
        "opened": "OPENED",
        "reopened": "REOPENED",
        "escalated": f"ESCALATED (level {incident.escalation_level + 1})",
        "acknowledged": f"ACKNOWLEDGED by {actor}",
        "resolved": "RESOLVED",
        "note": f"NOTE by {actor}",
    }.get(event, event.upper().replace("_", " "))
    return {
        "id": str(incident.id),
        "priority": incident.priority,
        "impact": str(incident.impact),
        "urgency": str(incident.urgency),
        "title": incident.title,
        "status": incident.status.value,
        "event": event,
        "headline": headline,
        "level": str(incident.escalation_level + 1),
        "services": some_of(incident.services, NAMED_SERVICES) or "-",
        "root_cause": top.node if top else "",
        "root_cause_score": f"{top.score:.2f}" if top else "",
        "evidence": "\n".join(f"  - {e}" for e in top.evidence) if top else "",
        "workaround": known_error.workaround if known_error else "",
        "seen_before": seen.summary() if seen else "",
        "actor": actor,
        "note": note,
        "show": f"sentinel incidents show {incident.id}",
        "ack": f"sentinel ack {incident.id}" if incident.status == IncidentStatus.OPEN else "",
    }


def render_message(
    incident: Incident,
    event: str,
    actor: str = "sentinel",
    known_error: Problem | None = None,
    template: MessageTemplate | None = None,
    note: str = "",
    seen: SeenBefore | None = None,
) -> tuple[str, str]:
    """Title and body of a notification: priority, root cause, evidence, the known error's
    workaround when there is one, what to run next — or the event's template. A work
    note's body is the note: a desk's record already holds the rest."""
    fields = message_fields(incident, event, actor, known_error, note, seen)
    title = f"[{incident.priority}] {fields['headline']} #{incident.id}: {incident.title}"
    if note:
        return _templated(template, fields, title, f"{note}\n\nDetails: {fields['show']}")
    lines = [
        f"Priority {incident.priority} (impact {incident.impact}, urgency {incident.urgency})"
        f" · services: {fields['services']}",
    ]
    if incident.root_causes:
        lines.append(
            f"Likely root cause: {fields['root_cause']} (score {fields['root_cause_score']})"
        )
        if fields["evidence"]:
            lines.append(fields["evidence"])
    if known_error is not None:
        lines.append(f"Known error (problem #{known_error.id}): {known_error.workaround}")
    if fields["seen_before"]:
        lines.append(fields["seen_before"])
    lines.append(f"Details: {fields['show']}")
    if fields["ack"]:
        lines.append(f"Acknowledge: {fields['ack']}")
    return _templated(template, fields, title, "\n".join(lines))


def _templated(
    template: MessageTemplate | None, fields: dict[str, str], title: str, body: str
) -> tuple[str, str]:
    """The event's template where it has one, sentinel's wording where not."""
    if template is not None:
        title = template.title.format_map(fields) if template.title else title
        body = template.body.format_map(fields) if template.body else body
    return title, body
