"""When the project team is at the desk: its opening hours (`bot.common.hours`) on the project's
calendar (time zone, public holidays). Used to tell a citizen when to expect a person, and to
alert staff only when someone can act."""

from __future__ import annotations

from datetime import datetime, timedelta

from bot.common.calendar import BusinessCalendar
from bot.common.hours import DeskHours


class DeskSchedule:
    """Opening hours on the project's calendar (its time zone and holidays)."""

    def __init__(self, hours: DeskHours, calendar: BusinessCalendar) -> None:
        self.hours = hours
        self.calendar = calendar

    def is_open(self, moment: datetime) -> bool:
        """Whether a person is at the desk at `moment`."""
        local = moment.astimezone(self.calendar.zone)
        if self.calendar.is_holiday(local.date()):
            return False
        now = local.time()
        return any(
            o.weekday == local.weekday() and o.opens <= now < o.closes for o in self.hours.openings
        )

    def next_opening(self, moment: datetime) -> datetime:
        """When the desk opens next after `moment` (`moment` itself when it is open), aware,
        in the project's time zone."""
        local = moment.astimezone(self.calendar.zone)
        if self.is_open(local):
            return local
        for offset in range(0, 370):
            day = local.date() + timedelta(days=offset)
            if self.calendar.is_holiday(day):
                continue
            for opening in self.hours.openings:
                if opening.weekday != day.weekday():
                    continue
                start = datetime.combine(day, opening.opens, tzinfo=self.calendar.zone)
                if start > local:
                    return start
        return local  # a year of holidays: say "now" rather than promise a date
