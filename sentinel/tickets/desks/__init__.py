"""External desks and pagers, one module each; importing this registers them in
``external_desks``."""

from sentinel.tickets.desks import (
    alertmanager,
    glpi,
    jira,
    pagerduty,
    rt,
    servicenow,
    webhook,
    zammad,
)

__all__ = ["alertmanager", "glpi", "jira", "pagerduty", "rt", "servicenow", "webhook", "zammad"]
