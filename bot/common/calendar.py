"""Deadlines in business days, in the project's time zone, without its public holidays."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import holidays


class BusinessCalendar:
    """Business days of the project: Monday to Friday, minus the public holidays of its
    country and region (from the `holidays` package) and any extra days off."""

    def __init__(
        self,
        *,
        timezone: str = "America/Toronto",
        country: str = "CA",
        subdivision: str | None = "QC",
        extra_holidays: Iterable[date] = (),
    ) -> None:
        self.zone = ZoneInfo(timezone)
        self._holidays = holidays.country_holidays(country, subdiv=subdivision)
        self._extra = frozenset(extra_holidays)

    def local_day(self, moment: datetime) -> date:
        """The project's calendar day at `moment`."""
        return moment.astimezone(self.zone).date()

    def is_business_day(self, day: date) -> bool:
        """Whether the project team works on `day`."""
        return day.weekday() < 5 and not self.is_holiday(day)

    def is_holiday(self, day: date) -> bool:
        """Whether `day` is a public holiday or an extra day off of the team."""
        return day in self._holidays or day in self._extra

    def add_business_days(self, moment: datetime, days: int) -> date:
        """The day by which something received at `moment` is due, `days` business days later.

        The day of receipt does not count (received on a Friday evening with 2 business days:
        due Tuesday; a holiday in between pushes it further).
        """
        day = self.local_day(moment)
        remaining = days
        while remaining > 0:
            day += timedelta(days=1)
            if self.is_business_day(day):
                remaining -= 1
        return day

    def business_days_between(self, start: date, end: date) -> int:
        """Business days after `start` up to and including `end` (negative if `end` is before)."""
        if end < start:
            return -self.business_days_between(end, start)
        return sum(
            1
            for n in range(1, (end - start).days + 1)
            if self.is_business_day(start + timedelta(n))
        )

    def today(self) -> date:
        """Today in the project's time zone."""
        return self.local_day(datetime.now(UTC))
