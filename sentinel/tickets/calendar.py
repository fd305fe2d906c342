"""Business-hours calendars: SLA clocks that run only while the desk is staffed.

A calendar is working days, daily hours and holidays in one time zone; ``add`` moves a
start time forward by an amount of working time (daylight-saving changes included, since
every step goes through the zone's own clock).
"""

from __future__ import annotations

import datetime as dt
import re
from functools import cached_property
from zoneinfo import ZoneInfo

from pydantic import Field, field_validator

from sentinel.schema import StrictModel, TimeZone

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_HOURS = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-4]):([0-5]\d)$")
_HORIZON_DAYS = 3660  # no deadline is further than ten years of calendar days away


class CalendarConfig(StrictModel):
    name: str
    timezone: TimeZone = "UTC"
    days: list[str] = Field(default_factory=lambda: list(DAYS[:5]))
    hours: str = Field("09:00-17:00", description="HH:MM-HH:MM, local time")
    holidays: list[dt.date] = Field(default_factory=list)

    @field_validator("days")
    @classmethod
    def _days(cls, value: list[str]) -> list[str]:
        bad = [d for d in value if d.lower() not in DAYS]
        if bad or not value:
            raise ValueError(f"days are {', '.join(DAYS)} (at least one)")
        return [d.lower() for d in value]

    @field_validator("hours")
    @classmethod
    def _hours(cls, value: str) -> str:
        match = _HOURS.match(value)
        if not match or match.group(1, 2) >= match.group(3, 4):
            raise ValueError("hours must be HH:MM-HH:MM with the start before the end")
        return value

    @cached_property
    def _span(self) -> tuple[dt.time, dt.time | None]:
        start, end = self.hours.split("-")
        opens = dt.time.fromisoformat(start)
        return opens, None if end == "24:00" else dt.time.fromisoformat(end)

    def _window(self, day: dt.date, zone: ZoneInfo) -> tuple[float, float] | None:
        """Opening and closing time of ``day`` in unix seconds, or None if closed."""
        if DAYS[day.weekday()] not in self.days or day in self.holidays:
            return None
        opens, closes = self._span
        begin = dt.datetime.combine(day, opens, zone)
        end = (
            dt.datetime.combine(day + dt.timedelta(days=1), dt.time(0), zone)
            if closes is None
            else dt.datetime.combine(day, closes, zone)
        )
        return begin.timestamp(), end.timestamp()

    def add(self, start: float, seconds: float) -> float:
        """The moment ``seconds`` of working time after ``start``.

        >>> office = CalendarConfig(name="o", timezone="UTC", hours="09:00-17:00")
        >>> friday_4pm = dt.datetime(2026, 11, 27, 16, tzinfo=dt.UTC).timestamp()
        >>> dt.datetime.fromtimestamp(office.add(friday_4pm, 2 * 3600), dt.UTC).isoformat()
        '2026-11-30T10:00:00+00:00'
        """
        zone = ZoneInfo(self.timezone)
        day = dt.datetime.fromtimestamp(start, zone).date()
        remaining = seconds
        for _ in range(_HORIZON_DAYS):
            window = self._window(day, zone)
            if window is not None:
                begin, end = max(start, window[0]), window[1]
                if begin < end:
                    if remaining <= end - begin:
                        return begin + remaining
                    remaining -= end - begin
            day += dt.timedelta(days=1)
        raise ValueError(f"calendar {self.name!r} has no working time within ten years")
