"""External desks and pagers, one module each; importing this registers them in ``desks``."""

from sentinel.tickets.desks import alertmanager, pagerduty, servicenow, webhook

__all__ = ["alertmanager", "pagerduty", "servicenow", "webhook"]
